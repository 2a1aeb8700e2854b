"""The commands' two consoles (results on stdout, progress and errors on stderr) and the
one way a command fails.

Off a terminal (a pipe, a CI log) rich would wrap lines at 80 columns; lines are kept
whole there instead, so a script reads one result per line.
"""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=not os.isatty(1))
err = Console(stderr=True, soft_wrap=not os.isatty(2))


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: no traceback for a user's mistake. The
    message is plain text: brackets in it (a path, a value the user typed) are escaped,
    never read as rich markup."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
