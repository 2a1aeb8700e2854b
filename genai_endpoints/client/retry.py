"""Retry one target on 429/503, honouring ``Retry-After``,
inside a time budget: the next wait is skipped when it would overrun the budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential_jitter,
)

from genai_endpoints.client.errors import CallError

T = TypeVar("T")
_backoff = wait_exponential_jitter(initial=0.5, max=10.0, jitter=0.25)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, CallError) and exc.retry_after is not None:
        return exc.retry_after
    return _backoff(state)


def _stop_before(budget_s: float):
    """Stop when the next wait would end past the budget. Time spent counts the waits
    themselves too, so an injected (test) sleep is held to the same budget."""

    def stop(state: RetryCallState) -> bool:
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep >= budget_s

    return stop


def with_retries(
    fn: Callable[[], T],
    *,
    budget_s: float,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[CallError, float], None] | None = None,
) -> tuple[T, int]:
    """``fn()``'s result and the number of attempts it took; the last ``CallError`` if the
    budget runs out or the failure is not worth retrying."""

    def before_sleep(state: RetryCallState) -> None:
        if on_wait and state.outcome and state.next_action:
            on_wait(state.outcome.exception(), state.next_action.sleep)

    retrying = Retrying(
        retry=retry_if_exception(lambda e: isinstance(e, CallError) and e.retryable),
        wait=_wait,
        stop=_stop_before(budget_s),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    result = retrying(fn)
    return result, retrying.statistics.get("attempt_number", 1)
