"""Errors that carry their HTTP answer, so every adapter maps them the same way."""

from __future__ import annotations


class ScoringError(Exception):
    """Base class: a status code, the field at fault (if any), and a message for the caller."""

    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        body: dict = {"code": self.status, "message": self.message}
        if self.field:
            body["field"] = self.field
        return {"error": body}

    def headers(self) -> dict[str, str]:
        return {}


class RequestError(ScoringError):
    """The request is malformed or outside the deployment's limits (400)."""

    status = 400


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
