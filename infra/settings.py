"""The keys every stack has, whatever clouds it enables.

:mod:`infra.config` builds the full ``StackSettings`` from :class:`CommonSettings` plus one
field per cloud of the registry (:mod:`infra.clouds`). A cloud's ``plan`` takes the settings
as :class:`CommonSettings` and reads its own section with :func:`section_of`, so no cloud's
module imports the registry or the composed model (the import graph stays a tree).
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import Field

from infra.common import CloudSection, Section, Tags, Task
from infra.runtime import RuntimeSection
from infra.serving import EngineSection

S = TypeVar("S", bound=CloudSection)


class CommonSettings(Section):
    package: str = Field(min_length=1)
    task: Task
    environment: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    tags: Tags
    runtime: RuntimeSection = RuntimeSection()
    engine: EngineSection = EngineSection()


def section_of(settings: CommonSettings, cloud: str, kind: type[S]) -> S:
    """The ``cloud`` section of the composed settings, typed as that cloud's section."""
    section = getattr(settings, cloud)
    if not isinstance(section, kind):
        raise TypeError(f"settings.{cloud} is a {type(section).__name__}, not a {kind.__name__}")
    return section
