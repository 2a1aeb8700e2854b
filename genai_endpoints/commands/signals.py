"""SIGTERM stops a long command the way Ctrl-C does: through ``KeyboardInterrupt``.

Python turns SIGINT into ``KeyboardInterrupt``, so every ``finally`` and context manager on
the way out runs (the S3 transfer manager aborts its multipart upload, a rehearsal stops its
servers, a ``.partial`` file is removed). SIGTERM, what CI runners, ``timeout``, systemd and
Kubernetes send, kills the process by default with none of that: an unfinished multipart
upload stays in the bucket, billed, until a lifecycle rule removes it. :func:`stops_cleanly`
makes SIGTERM raise :class:`Terminated` (a ``KeyboardInterrupt``) for the command's duration,
so both signals take the one cleanup path, and restores the previous handler afterwards.

The exit code says which signal stopped the command: 130 for SIGINT, 143 for SIGTERM, the
``128 + signal number`` that shells and supervisors report for a process ended by that signal
(POSIX ``sh`` "Exit Status"; systemd's ``SuccessExitStatus``, Kubernetes' ``exitCode`` read
the same), so a supervisor that sent SIGTERM sees what it expects, only after the cleanup.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from genai_endpoints.commands.consoles import fail

F = TypeVar("F", bound=Callable[..., Any])

INTERRUPTED = 128 + signal.SIGINT  # 130
TERMINATED = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python raises ``KeyboardInterrupt`` for SIGINT."""


def exit_code(exc: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for SIGINT (128 + the signal's number)."""
    return TERMINATED if isinstance(exc, Terminated) else INTERRUPTED


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For the block's duration, SIGTERM raises :class:`Terminated` in the main thread; a
    second SIGTERM during the cleanup that follows is ignored (so the cleanup finishes). The
    previous handler is restored on the way out. Outside the main thread (where Python
    allows no handler) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: object) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stops_cleanly(message: str = "interrupted") -> Callable[[F], F]:
    """Decorate a long command: SIGTERM like Ctrl-C (:func:`sigterm_as_interrupt`), and either
    ends in ``error: MESSAGE`` on one line with exit code 130 or 143 instead of a traceback."""

    def decorate(command: F) -> F:
        @functools.wraps(command)  # typer reads the options from the wrapped signature
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with sigterm_as_interrupt():
                    return command(*args, **kwargs)
            except KeyboardInterrupt as exc:
                fail(message, code=exit_code(exc))

        wrapper.stops_cleanly = True  # type: ignore[attr-defined] - what a test looks for
        return wrapper  # type: ignore[return-value]

    return decorate
