"""Errors the client raises: each is one clean line for a person, never a credential.

``CallError`` carries what retry and fallback decide on (status, ``Retry-After``, timeout),
so the decision is made in one place (``retry.py``, ``client.py``) for every backend.
"""

from __future__ import annotations

import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a key or token the client holds so no message can ever show it."""
    if value and len(value) >= 6:
        with _LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class ClientError(Exception):
    """A failure explained in one line; the CLI prints ``message`` and exits non-zero."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = redact(" ".join(str(message).split()))
        self.field = field
        super().__init__(self.message)


class ConfigError(ClientError):
    """The targets file, a stack's outputs or a credential setting is wrong or missing."""


class UnsupportedRequest(ClientError):
    """The request uses fields this backend cannot honour; decided before any call."""


class CallError(ClientError):
    """A call that did not produce outputs.

    ``status`` is the HTTP status (or the status the cloud reports for the container);
    ``timeout`` and ``connection`` mark calls that never got an answer.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        timeout: bool = False,
        connection: bool = False,
        field: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.retry_after = retry_after
        self.timeout = timeout
        self.connection = connection

    @property
    def retryable(self) -> bool:
        """Worth the same target again after a wait: throttled or briefly unavailable.
        (A refused or dropped connection moves on to the next target instead.)"""
        return self.status in (429, 503)

    @property
    def fallback_ok(self) -> bool:
        """Worth another target: throttled, a server-side failure, or no answer in time."""
        return (
            self.status == 429
            or (self.status is not None and self.status >= 500)
            or self.timeout
            or self.connection
        )

    @property
    def kind(self) -> str:
        if self.timeout:
            return "timeout"
        if self.connection:
            return "connection"
        return f"http {self.status}" if self.status else "error"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
