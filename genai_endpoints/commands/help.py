"""How the command's help reads: wrapped to the terminal, whole off one, no type label on
a flag."""

from __future__ import annotations

import inspect
import os

import typer


def configure_help() -> None:
    """typer labels every flag ``<bool>`` although a flag takes no value; show none. Off a
    terminal (a pipe, CI), lay help out 120 columns wide so no option's help is cut."""
    from typer import rich_utils
    from typer.core import TyperOption

    labelled = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else labelled(self, ctx)

    TyperOption.display_type_rich = display_type_rich
    if not os.isatty(1) and rich_utils.MAX_WIDTH is None and not os.environ.get("COLUMNS"):
        rich_utils.MAX_WIDTH = 120


def tidy_help(app: typer.Typer) -> None:
    """Typer keeps a docstring's line breaks after its first paragraph; rejoin each
    paragraph so help text wraps to the terminal instead of the source's line length."""
    for info in app.registered_commands:
        doc = inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))
