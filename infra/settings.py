"""The keys every stack has, whatever clouds it enables.

:mod:`infra.config` builds the full ``StackSettings`` from :class:`CommonSettings` plus one
field per cloud of the registry (:mod:`infra.clouds`). A cloud's ``plan`` takes the settings
as :class:`CommonSettings` and reads its own section with :func:`section_of`, so no cloud's
module imports the registry or the composed model (the import graph stays a tree).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field

from infra.common import NAMESPACE, CloudSection, ConfigError, Section, Tags, Task
from infra.manifest import ManifestError, PackageManifest, load_manifest
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


def stack_package(
    settings: CommonSettings, project_dir: Path, package_dir: Path | None, cloud: str
) -> tuple[PackageManifest, Path]:
    """The package's manifest for ``cloud`` (a contract name) and its weights folder; its
    model must do the stack's task. One message for every cloud."""
    pkg = package_dir or (project_dir / settings.package)
    try:
        manifest, weights_dir = load_manifest(pkg, cloud)
    except ManifestError as exc:
        raise ConfigError(f"{NAMESPACE}:package={str(pkg)!r}: {exc}") from None
    if settings.task not in manifest.model.tasks:
        raise ConfigError(
            f"{NAMESPACE}:task={settings.task!r}: the package's model "
            f"{manifest.model.id!r} supports only: {', '.join(manifest.model.tasks)}"
        )
    return manifest, weights_dir
