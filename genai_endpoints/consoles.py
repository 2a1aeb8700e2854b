"""The command's two consoles: results on stdout, progress and errors on stderr.

Off a terminal (a pipe, a CI log) rich would wrap lines at 80 columns; lines are kept
whole there instead, so a script reads one result per line.
"""

from __future__ import annotations

import os

from rich.console import Console

out = Console(soft_wrap=not os.isatty(1))
err = Console(stderr=True, soft_wrap=not os.isatty(2))
