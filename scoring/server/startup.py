"""The start-up's phases, timed: one log line and a ``startup`` field in readiness, so an
operator sees where a slow start (a scale-out, a wake from zero) went.

Phases, in order: ``import`` (torch, diffusers, the engine), ``fetch`` (where the contract
downloads the weights), ``verify`` (hashing every weight file; it runs on threads alongside
``import``, so its wall time overlaps it), ``load``, ``to device``, ``compile`` (where
``GENAI_COMPILE`` is on), ``warm-up``, and ``total`` from the loader's start to ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("scoring.server")

ORDER = ("import", "fetch", "verify", "load", "to device", "compile", "warm-up")


class StartupPhases:
    """Seconds per phase, in the order the phases run; ``total`` is wall time."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def as_dict(self) -> dict[str, float]:
        """``{phase: seconds}`` in the order they run, then ``total``."""
        ordered = {n: round(self.seconds[n], 3) for n in ORDER if n in self.seconds}
        ordered.update((n, round(s, 3)) for n, s in self.seconds.items() if n not in ordered)
        ordered["total"] = round(time.monotonic() - self.started, 3)
        return ordered

    def report(self) -> dict[str, float]:
        """Log the one line and return what readiness shows."""
        phases = self.as_dict()
        line = ", ".join(f"{name} {s:.2f} s" for name, s in phases.items())
        log.info("start-up phases: %s", line)
        return phases
