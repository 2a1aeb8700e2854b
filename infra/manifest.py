"""Reads a package's ``manifest.json`` (schema 2) as data: only the fields infra needs.

The writer is ``model_packages/manifest.py``; this module deliberately does not import it
(the contract is the JSON, manifest v2). Unknown fields are ignored so the writer may add
fields freely; ``schema_version`` guards changes a reader must know about. A package is data
only: the weights folder (weights + ``genai_package.json``) that ``pulumi up`` uploads under
``weights.key_prefix``, and the ``runtime`` section saying which image contract serves it.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 2
DIGEST = r"^[0-9a-f]{64}$"


class ManifestError(ValueError):
    """A missing, malformed or stale manifest; the caller adds the config key."""


class _Reader(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FileEntry(_Reader):
    path: str = Field(min_length=1)
    sha256: str = Field(pattern=DIGEST)
    size: int = Field(ge=0)


class ModelSection(_Reader):
    id: str
    revision: str
    digest: str
    size_bytes: int = Field(ge=0)
    tasks: list[str]
    family: str | None = None
    loras: list[str] = []
    safety_checker: bool = False


class WeightsSection(_Reader):
    """The folder uploaded as-is under ``key_prefix`` (S3 prefix, GCS prefix, Azure asset)."""

    folder: str = Field(min_length=1)
    key_prefix: str = Field(pattern=r"^models/[0-9a-f]{64}/$")
    digest: str = Field(pattern=DIGEST)
    size_bytes: int = Field(ge=0)
    files: list[FileEntry] = Field(min_length=1)


class RuntimeSection(_Reader):
    """How the one runtime image serves this package on its cloud (docs/architecture.md)."""

    dockerfile: str = "runtime/Dockerfile"
    lock: str = "runtime/serve.lock"
    lock_sha256: str = Field(pattern=DIGEST)
    contract: str
    env: dict[str, str] = {}
    port: int = Field(ge=1, le=65535)
    health_route: str = Field(pattern=r"^/")
    readiness_route: str = Field(pattern=r"^/")
    predict_route: str = Field(pattern=r"^/")
    args: list[str] = []


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
    runtime: RuntimeSection
    limits: list[CloudLimit] = []

    def limit(self, name: str) -> CloudLimit | None:
        return next((lim for lim in self.limits if lim.name == name), None)


def manifest_path(package_dir: Path, cloud: str) -> Path:
    return package_dir / cloud / "manifest.json"


def load_manifest(package_dir: Path, cloud: str) -> tuple[PackageManifest, Path]:
    """The manifest of ``<package_dir>/<cloud>/`` and the weights folder it names.

    Raises :class:`ManifestError` for a missing, malformed or schema-1 manifest, for a
    weights section whose prefix is not its digest, and for a weights folder that exists but
    no longer holds the files (sizes) the manifest lists. A missing weights folder is
    accepted: ``pulumi up`` then needs every object in the bucket already (the upload step
    says which one is missing). Hashes are checked while the files are uploaded.
    """
    path = manifest_path(package_dir, cloud)
    if not path.is_file():
        raise ManifestError(
            f"no {cloud} manifest at {path}; "
            f"allowed: a folder holding '{cloud}/manifest.json' as written by "
            "`genai-endpoints package` (build the package first, or point the key elsewhere)"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise ManifestError(
            f"{path} has schema_version={version!r}; allowed: {SCHEMA_VERSION} (a data-only "
            "package served by the runtime image); rebuild the package with "
            "`genai-endpoints package`"
        )
    try:
        manifest = PackageManifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(
            f"{path} is not a valid manifest: {where}: {first['msg']}; rebuild the package"
        ) from None
    if manifest.cloud != cloud:
        raise ManifestError(f"{path} is for cloud {manifest.cloud!r}; allowed: {cloud!r}")
    w = manifest.weights
    if w.key_prefix != f"models/{w.digest}/":
        raise ManifestError(
            f"{path}: weights.key_prefix={w.key_prefix!r} is not models/<weights.digest>/; "
            "rebuild the package"
        )
    weights_dir = path.parent / w.folder
    check_weights_folder(manifest, weights_dir)
    return manifest, weights_dir


def check_weights_folder(manifest: PackageManifest, weights_dir: Path) -> None:
    """Every listed file is a plain relative path; if the folder exists, each file is in it
    with its recorded size (a cheap stat: the sha256 is checked while uploading)."""
    seen: set[str] = set()
    for entry in manifest.weights.files:
        rel = PurePosixPath(entry.path)
        if rel.is_absolute() or any(p in ("", ".", "..") for p in entry.path.split("/")):
            raise ManifestError(f"weights file path {entry.path!r} must be relative, inside")
        if entry.path in seen:
            raise ManifestError(f"weights file {entry.path!r} is listed twice; rebuild")
        seen.add(entry.path)
    if "genai_package.json" not in seen:
        raise ManifestError(
            "the weights folder lists no genai_package.json (the server reads it at start); "
            "rebuild the package"
        )
    if not weights_dir.is_dir():
        return
    for entry in manifest.weights.files:
        file = weights_dir / entry.path
        if not file.is_file():
            raise ManifestError(f"weights file {file} listed in the manifest is missing; rebuild")
        size = file.stat().st_size
        if size != entry.size:
            raise ManifestError(
                f"weights file {file} has {size} bytes, the manifest says {entry.size}; "
                "rebuild the package"
            )
