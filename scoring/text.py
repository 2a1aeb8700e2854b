"""The one check every free-text field goes through (prompt, negative_prompt, and any
field added later): length, lone surrogates, control characters.

A field typed ``Text`` in the schema gets it, wherever it sits (nested models too), and a
failure names the field. The length limit comes from the deployment's ``Limits``, passed
as validation context (``{"limits": limits}``); without one the default applies.

Why these characters: a lone surrogate (``"\\ud800"`` is valid JSON) cannot be encoded
as UTF-8, so the tokenizer fails on it deep inside the model call; C0/C1 control
characters other than tab, newline and carriage return are never meaningful in a prompt
and are a common way to smuggle terminal escapes into logs.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from scoring.settings import Limits

DEFAULT_MAX_CHARS = Limits.model_fields["max_prompt_chars"].default
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """What is wrong with ``value`` as request text, or None. Length first: a 6 MB string
    is refused without scanning it."""
    if len(value) > max_chars:
        return f"at most {max_chars} characters (got {len(value)})"
    bad = _BAD.search(value)
    if bad is None:
        return None
    char = bad.group()
    what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return (
        f"contains {what} (U+{ord(char):04X}) at character {bad.start()}; "
        "allowed: Unicode text (UTF-8), with tab and newline as the only control characters"
    )


def _check(value: str, info: ValidationInfo) -> str:
    limits = (info.context or {}).get("limits")
    max_chars = limits.max_prompt_chars if isinstance(limits, Limits) else DEFAULT_MAX_CHARS
    problem = text_problem(value, max_chars)
    if problem is not None:
        raise PydanticCustomError("text", problem)
    return value


Text = Annotated[str, AfterValidator(_check)]
"""A request field holding free text: checked by ``text_problem`` with the field named."""
