"""``genai-endpoints version`` and the ``--version`` flag."""

from __future__ import annotations

import typer

from genai_endpoints.commands.consoles import out


def version_flag(value: bool) -> None:
    """The eager ``--version`` option's callback: print and stop before any command."""
    if value:
        from scoring import __version__

        out.print(f"genai-endpoints {__version__}", highlight=False)
        raise typer.Exit()


def show_version() -> None:
    """Print the scoring engine's version."""
    from scoring import __version__

    out.print(__version__)
