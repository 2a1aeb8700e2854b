"""One generation at a time on the GPU, behind a bounded wait queue, for async callers.

A GPU runs one diffusion pipeline well; two at once only thrash its memory. Requests
wait in line on the event loop (no thread per waiter); the one GPU thread takes them in
order. A full line answers 429 at once, a wait past ``queue_timeout_s`` answers 503 (both
with Retry-After from the measured job time), and a waiter whose turn never came is
dropped from the line, so the GPU never runs work nobody waits for.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from scoring.errors import Busy


@dataclass(eq=False)
class _Ticket:
    job: Any
    enqueued: float
    # resolves with the job's result; a ticket still in ``_line`` has not started yet
    result: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GpuWorker:
    """``await submit(job)`` runs ``run(job, queued_s)`` on the single GPU thread."""

    def __init__(
        self,
        run: Callable[[Any, float], Any],
        *,
        max_queue: int,
        queue_timeout_s: float,
        est_job_s: float = 5.0,
    ) -> None:
        self._run = run
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._line: collections.deque[_Ticket] = collections.deque()
        self._running = False
        self._est_job_s = est_job_s  # running mean of job time, for Retry-After
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu")

    @property
    def waiting(self) -> int:
        return len(self._line)

    @property
    def busy(self) -> bool:
        return self._running

    def retry_after_s(self) -> int:
        return max(1, round(self._est_job_s * (len(self._line) + 1)))

    def check_room(self) -> None:
        """Raise 429 if a new request could not wait in line: callers check before they
        spend anything on a request (parsing, decoding images) and again on submit."""
        if (self._running or self._line) and len(self._line) >= self.max_queue:
            raise Busy(
                f"server busy: {len(self._line)} requests already waiting "
                f"(queue limit {self.max_queue}); retry later",
                status=429,
                retry_after_s=self.retry_after_s(),
            )

    async def submit(self, job: Any) -> Any:
        self.check_room()
        ticket = _Ticket(job, time.monotonic())
        self._line.append(ticket)
        self._next()
        try:
            await asyncio.wait_for(asyncio.shield(ticket.result), self.queue_timeout_s)
        except TimeoutError:
            # a job that started in time may run longer: only a ticket still in line gives up
            if ticket in self._line:
                self._line.remove(ticket)
                raise Busy(
                    f"waited {self.queue_timeout_s:g} s for the GPU without a turn; retry later",
                    status=503,
                    retry_after_s=self.retry_after_s(),
                ) from None
        except asyncio.CancelledError:
            if ticket in self._line:
                self._line.remove(ticket)
            raise
        return await ticket.result

    def _next(self) -> None:
        """Start the next waiter's job if the GPU is free."""
        if self._running or not self._line:
            return
        ticket = self._line.popleft()
        self._running = True
        queued_s = time.monotonic() - ticket.enqueued
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        future = loop.run_in_executor(self._executor, self._run, ticket.job, queued_s)
        chained = ticket.result

        def done(fut: asyncio.Future) -> None:
            self._running = False
            took = time.monotonic() - started
            self._est_job_s = 0.8 * self._est_job_s + 0.2 * took
            if not chained.done():
                if fut.cancelled():
                    chained.cancel()
                elif fut.exception() is not None:
                    chained.set_exception(fut.exception())
                else:
                    chained.set_result(fut.result())
            self._next()

        future.add_done_callback(done)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
