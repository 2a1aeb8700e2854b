"""What a cloud's package needs, as data: each cloud module returns one ``CloudSpec``."""

from __future__ import annotations

from dataclasses import dataclass, field

from model_packages.manifest import CloudLimit


@dataclass(frozen=True)
class CloudSpec:
    cloud: str
    code_folder: str  # relative to the package root; may sit inside the weights folder
    entry_name: str
    entry_source: str
    image: str
    image_note: str
    env: dict[str, str]
    port: int
    health_route: str
    predict_route: str
    limits: list[CloudLimit]
    weights_folder: str = "model"
    extra_files: dict[str, str] = field(default_factory=dict)  # package-relative path → text
