"""Errors that carry their HTTP answer, so every adapter maps them the same way.

A refused request may have many problems (a body with 500,000 unknown keys has 500,000);
the answer names the first few, each with its field, then says how many more there are,
so an error body stays a few hundred bytes whatever the request was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

SHOWN_PROBLEMS = 5  # problems spelled out in one answer; the rest are counted
MAX_DETAIL_CHARS = 300  # one problem's text
ECHO_CHARS = 40  # a value quoted back to the caller


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """A caller-chosen name (an unknown key) cut to a readable length, with control
    characters, line breaks and lone surrogates escaped (it may end up in a log line or
    an HTTP reason phrase)."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:limit])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def echo(value: object) -> str:
    """A caller's value quoted back, short: never the 6 MB string they sent."""
    text = repr(value)
    return text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (``field``, e.g. ``outpaint.left``) and what."""

    field: str
    detail: str

    @property
    def text(self) -> str:
        detail = self.detail
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
        return f"{clip(self.field)}: {detail}"


def summarize(problems: list[Problem]) -> str:
    """The first few problems, then how many more: bounded whatever the request was."""
    shown = "; ".join(p.text for p in problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    return f"{shown}; and {more} more" if more > 0 else shown


class ScoringError(Exception):
    """Base class: a status code, the field at fault (if any), and a message for the caller."""

    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        """``{"error": {"code", "field", "message"}}``; ``field`` is null when no field is at
        fault (a busy server, a timeout)."""
        return {"error": {"code": self.status, "field": self.field, "message": self.message}}

    def headers(self) -> dict[str, str]:
        return {}


class RequestError(ScoringError):
    """The request is malformed or outside the deployment's limits (400).

    Build it from one message (``RequestError("width: ...", field="width")``) or from a
    list of problems (``RequestError.of(problems)``); either way it keeps ``problems``, so
    a caller that relays an inner request (one Vertex instance) can relocate the fields.
    """

    status = 400

    def __init__(
        self, message: str, *, field: str | None = None, problems: list[Problem] | None = None
    ) -> None:
        if problems is None:
            where = field or message.partition(":")[0]
            prefix = f"{where}: "
            detail = message[len(prefix) :] if message.startswith(prefix) else message
            problems = [Problem(where, detail)]
        super().__init__(message, field=clip(field or problems[0].field))
        self.problems = problems

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> RequestError:
        problems = list(problems)
        return cls(summarize(problems), field=problems[0].field, problems=problems)

    def relocated(self, where: Callable[[str], str]) -> RequestError:
        """The same error with each field renamed by ``where`` (e.g. ``instances[1].width``)."""
        moved = [Problem(where(p.field), p.detail) for p in self.problems]
        return type(self).of(moved)


class PayloadTooLarge(RequestError):
    """The request body is larger than the deployment allows (413)."""

    status = 413


class UnsupportedMediaType(RequestError):
    """The body is not JSON (415)."""

    status = 415


class RequestTimeout(RequestError):
    """The request body did not arrive in time (408); the connection is closed."""

    status = 408


class UnsupportedTask(ScoringError):
    """The loaded model cannot do the requested task (422)."""

    status = 422


class NotAcceptable(ScoringError):
    """The caller's Accept header cannot be honoured (406)."""

    status = 406


class Busy(ScoringError):
    """The wait queue is full (429) or the wait ran out (503); the caller should retry."""

    def __init__(self, message: str, *, status: int = 429, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class GenerationTimeout(ScoringError):
    """The generation ran past the per-request time limit and was stopped (504)."""

    status = 504


class InternalError(ScoringError):
    """A fault of ours or of the GPU (500); the details go to the log, not the caller."""

    status = 500

    def __init__(self, message: str = "internal error; see the server log") -> None:
        super().__init__(message)


class ModelNotReady(ScoringError):
    """The model failed to load; the server must not report healthy (503)."""

    status = 503
