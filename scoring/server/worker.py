"""One generation at a time on the GPU, behind a bounded wait queue, for async callers.

A GPU runs one diffusion pipeline well; two at once only thrash its memory. Requests
wait in line on the event loop (no thread per waiter); the one GPU thread takes them in
order. A full line answers 429 at once, a wait past ``queue_timeout_s`` answers 503 (both
with Retry-After from the measured job time), and a waiter whose turn never came is
dropped from the line, so the GPU never runs work nobody waits for.

With a ``batcher`` (``GENAI_BATCH_WINDOW_MS`` > 0, ``scoring.server.batching``), the GPU
thread takes the head of the line together with later waiters of the same batch key, as
one pipeline call; the head waits at most the window after its arrival for them.
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
        batcher: Any = None,
    ) -> None:
        self._run = run
        self._batcher = batcher  # scoring.server.batching.Batcher, or None: one at a time
        self._window: asyncio.TimerHandle | None = None
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
        """Start the next waiter's job (or batch) if the GPU is free."""
        if self._running or not self._line:
            return
        tickets = [self._line[0]]
        if self._batcher is not None:
            tickets = self._batch()
            if tickets is None:
                return  # the head waits for company until its window closes
        for ticket in tickets:
            self._line.remove(ticket)
        self._running = True
        now = time.monotonic()
        queued = [now - t.enqueued for t in tickets]
        loop = asyncio.get_running_loop()
        if len(tickets) == 1:
            future = loop.run_in_executor(self._executor, self._run, tickets[0].job, queued[0])
        else:
            jobs = [t.job for t in tickets]
            future = loop.run_in_executor(self._executor, self._batcher.run, jobs, queued)

        def done(fut: asyncio.Future) -> None:
            self._running = False
            took = time.monotonic() - now
            self._est_job_s = 0.8 * self._est_job_s + 0.2 * took
            for i, ticket in enumerate(tickets):
                chained = ticket.result
                if chained.done():
                    continue
                if fut.cancelled():
                    chained.cancel()
                elif fut.exception() is not None:
                    chained.set_exception(fut.exception())
                else:
                    chained.set_result(fut.result() if len(tickets) == 1 else fut.result()[i])
            self._next()

        future.add_done_callback(done)

    def _batch(self) -> list[_Ticket] | None:
        """The head and the waiters that may share its call; None while the head's window
        is open and the batch is not full yet (a timer calls ``_next`` when it closes)."""
        batcher = self._batcher
        head = self._line[0]
        key = batcher.key(head.job)
        if key is None:
            return [head]
        tickets, outputs = [head], batcher.outputs(head.job)
        for ticket in list(self._line)[1:]:
            size = batcher.outputs(ticket.job)
            if outputs + size <= batcher.max_outputs and batcher.key(ticket.job) == key:
                tickets.append(ticket)
                outputs += size
        left = head.enqueued + batcher.window_s - time.monotonic()
        if outputs < batcher.max_outputs and left > 0:
            if self._window is None:
                self._window = asyncio.get_running_loop().call_later(left, self._window_closed)
            return None
        if self._window is not None:
            self._window.cancel()
            self._window = None
        return tickets

    def _window_closed(self) -> None:
        self._window = None
        self._next()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
