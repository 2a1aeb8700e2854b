"""Moved to :mod:`genai_endpoints.commands.consoles`; kept only for ``upload_cmd.py``,
which moves into ``genai_endpoints/commands/`` next: delete this module then."""

from genai_endpoints.commands.consoles import err, out

__all__ = ["err", "out"]
