"""One generation at a time per GPU, with a bounded wait queue.

A GPU runs one diffusion pipeline well; two at once only thrash memory. Callers beyond
the one running wait in line up to ``max_queue``; one more is told 429 at once with a
Retry-After, and a caller who waits longer than ``queue_timeout_s`` is told 503.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from scoring.errors import Busy


class GenerationGate:
    def __init__(self, max_queue: int, queue_timeout_s: float, est_job_s: float = 5.0) -> None:
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._cond = threading.Condition()
        self._running = False
        self._waiting = 0
        self._est_job_s = est_job_s  # running mean of job time, for Retry-After

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def busy(self) -> bool:
        return self._running

    def retry_after_s(self) -> int:
        return max(1, round(self._est_job_s * (self._waiting + 1)))

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold the GPU for one job; yields the seconds spent waiting in line."""
        start = time.monotonic()
        with self._cond:
            if self._running:
                if self._waiting >= self.max_queue:
                    raise Busy(
                        f"server busy: {self._waiting} requests already waiting "
                        f"(queue limit {self.max_queue}); retry later",
                        status=429,
                        retry_after_s=self.retry_after_s(),
                    )
                self._waiting += 1
                try:
                    deadline = start + self.queue_timeout_s
                    while self._running:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise Busy(
                                f"waited {self.queue_timeout_s:g} s for the GPU without a turn; "
                                "retry later",
                                status=503,
                                retry_after_s=self.retry_after_s(),
                            )
                        self._cond.wait(left)
                finally:
                    self._waiting -= 1
            self._running = True
        queued = time.monotonic() - start
        job_start = time.monotonic()
        try:
            yield queued
        finally:
            with self._cond:
                self._running = False
                took = time.monotonic() - job_start
                self._est_job_s = 0.8 * self._est_job_s + 0.2 * took
                self._cond.notify_all()
