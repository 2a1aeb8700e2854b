"""The ``genai-endpoints:gcp`` section. Until the Vertex AI component is built, only
``enabled: false`` is accepted, so a stack can't believe it deployed something it didn't."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.common import NAMESPACE, CloudSection, ConfigError


class GcpSection(CloudSection):
    pass


def plan(settings: Any, stack: str, project_dir: Path, package_dir: Path | None) -> Any:
    raise ConfigError(
        f"{NAMESPACE}:gcp.enabled=True: the Vertex AI component is not built yet; allowed: false"
    )
