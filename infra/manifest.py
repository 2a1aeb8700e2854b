"""Reads a package's ``manifest.json`` as data: only the fields the infra layer needs.

The writer is ``model_packages/manifest.py``; this module deliberately does not import it
(the contract is the JSON). Unknown fields are ignored so the writer may add fields freely;
``schema_version`` guards changes a reader must know about.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SUPPORTED_SCHEMA_VERSIONS = (1,)


class ManifestError(ValueError):
    """A missing, malformed or stale manifest; the caller adds the config key."""


class _Reader(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FileEntry(_Reader):
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class ModelSection(_Reader):
    id: str
    revision: str
    digest: str
    size_bytes: int = Field(ge=0)
    tasks: list[str]
    files: list[FileEntry] = []


class WeightsSection(_Reader):
    folder: str
    key_prefix: str = Field(pattern=r"^[A-Za-z0-9._/-]+/$")


class CodeSection(_Reader):
    folder: str
    digest: str
    files: list[FileEntry]


class ServingSection(_Reader):
    image: str
    env: dict[str, str] = {}
    port: int = 8080
    health_route: str = "/ping"
    predict_route: str = "/invocations"
    needs_egress: bool = False


class CloudLimit(_Reader):
    name: str
    max_request_bytes: int
    max_response_bytes: int | None = None
    timeout_s: int


class PackageManifest(_Reader):
    schema_version: int
    cloud: str
    engine_version: str
    model: ModelSection
    weights: WeightsSection
    code: CodeSection
    serving: ServingSection
    limits: list[CloudLimit] = []

    def limit(self, name: str) -> CloudLimit | None:
        return next((lim for lim in self.limits if lim.name == name), None)

    @property
    def size_gib(self) -> float:
        return self.model.size_bytes / 2**30


def manifest_path(package_dir: Path, cloud: str) -> Path:
    return package_dir / cloud / "manifest.json"


def load_manifest(package_dir: Path, cloud: str) -> tuple[PackageManifest, Path]:
    """The manifest of ``<package_dir>/<cloud>/`` and the folder holding its code.

    Raises :class:`ManifestError` for a missing or malformed manifest, and for a
    code folder whose files no longer match the hashes the manifest records.
    """
    path = manifest_path(package_dir, cloud)
    if not path.is_file():
        raise ManifestError(
            f"no {cloud} manifest at {path}; "
            f"allowed: a folder holding '{cloud}/manifest.json' as written by "
            "`genai-endpoints package` (build the package first, or point the key elsewhere)"
        )
    try:
        manifest = PackageManifest.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0:3]
        raise ManifestError(f"{path} is not a valid manifest: {' '.join(first)}") from None
    if manifest.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ManifestError(
            f"{path} has schema_version={manifest.schema_version}; "
            f"allowed: {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))} (upgrade infra or rebuild)"
        )
    if manifest.cloud != cloud:
        raise ManifestError(f"{path} is for cloud {manifest.cloud!r}; allowed: {cloud!r}")
    code_dir = path.parent / manifest.code.folder
    verify_code(manifest, code_dir)
    return manifest, code_dir


def verify_code(manifest: PackageManifest, code_dir: Path) -> None:
    """Every code file the manifest lists exists with its recorded sha256 (code is small)."""
    for entry in manifest.code.files:
        rel = PurePosixPath(entry.path)
        if rel.is_absolute() or ".." in rel.parts:
            raise ManifestError(f"code file path {entry.path!r} must be relative, inside")
        file = code_dir / rel
        if not file.is_file():
            raise ManifestError(f"code file {file} listed in the manifest is missing")
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest != entry.sha256:
            raise ManifestError(
                f"code file {file} has sha256 {digest[:12]}…, the manifest says "
                f"{entry.sha256[:12]}…; rebuild the package"
            )
