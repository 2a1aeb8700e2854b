"""What every cloud's config section shares: the namespace, the error, the base model."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

NAMESPACE = "genai-endpoints"
TASKS = ("text-to-image", "image-to-image", "inpainting", "outpainting", "text-to-video")
Task = Literal["text-to-image", "image-to-image", "inpainting", "outpainting", "text-to-video"]
# Tasks whose work can exceed a 60 s synchronous call: they need an async or long-running path.
LONG_TASKS = frozenset({"text-to-video"})


class ConfigError(ValueError):
    """Bad stack config: the message names the key, the value and what is allowed."""


CROSS_FIELD = "cross_field"  # the error type of cross_field_error


def cross_field_error(message: str) -> PydanticCustomError:
    """What a section's model validator raises when two of its keys disagree: ``message``
    already names the keys, their values and what is allowed, so it is reported as written."""
    return PydanticCustomError(CROSS_FIELD, "{message}", {"message": message})


class Section(BaseModel):
    """Base of every config object: unknown keys refused, camelCase keys in YAML."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=True,
    )


class CloudSection(Section):
    """A cloud's section: off unless ``enabled: true``."""

    enabled: bool = False


class Tags(Section):
    owner: str = Field(min_length=1, max_length=128)
    cost_centre: str = Field(min_length=1, max_length=128)


EMAIL = r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"


def check_emails(values: list[str]) -> list[str]:
    """Where alarms and alerts e-mail (every cloud's notification settings)."""
    for value in values:
        if not re.fullmatch(EMAIL, value):
            raise ValueError(f"{value!r} is not an e-mail address")
    return values


def check_webhooks(values: list[str]) -> list[str]:
    """Where alarms and alerts post: https only, the notification carries endpoint names."""
    for value in values:
        if not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value!r}: allowed: an https:// URL")
    return values
