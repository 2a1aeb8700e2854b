"""What a package uploads, and in which order: the plan, checked against the manifest.

Key layout, below the destination's prefix (``P``)::

    P/<weights.key_prefix><path>      the model folder (``models/<digest>/``), layout kept
    P/manifests/<cloud>/<weights digest>.json   the package's manifest.json

The weights keep the model's folder layout (``unet/diffusion_pytorch_model.safetensors``)
because SageMaker's uncompressed ``S3Prefix`` model data, Vertex's artifact URI and an Azure
model asset all need the real layout. The prefix is the manifest's ``weights.key_prefix``,
content-addressed by the builder (``models/<digest>/``), so an unchanged model folder maps
to the same keys in every environment and is uploaded once; the code that serves it lives
in the runtime image, so a code change uploads nothing. Every file in the folder is listed
in the manifest (``weights.files``), and a file the manifest does not list stops the upload
(dotfiles and ``__pycache__`` aside). The manifest is uploaded last, so a manifest in the
bucket means every file it names is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from model_packages.manifest import FileEntry, Manifest
from model_packages.upload.destinations import KEY_SEGMENT
from model_packages.upload.errors import HashMismatchError, PackageError
from model_packages.upload.reading import sha256_of

MANIFEST_NAME = "manifest.json"

Kind = Literal["weights", "manifest"]


@dataclass(frozen=True)
class UploadItem:
    """One file to upload. ``key`` is relative to the destination's prefix."""

    local_path: Path
    key: str
    sha256: str
    size: int
    kind: Kind


def read_package_manifest(package_dir: Path) -> Manifest:
    """The package's manifest.json, validated; a :class:`PackageError` names what is wrong."""
    from pydantic import ValidationError

    package_dir = Path(package_dir)
    if not package_dir.is_dir():
        raise PackageError(f"--package {package_dir}: not a folder")
    path = package_dir / MANIFEST_NAME
    if not path.is_file():
        raise PackageError(
            f"--package {package_dir}: no {MANIFEST_NAME}; pass a built package folder "
            "(OUT/<cloud>, as written by `genai-endpoints package`)"
        )
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PackageError(f"{path}: {where}: {first['msg']}") from None


def _safe_relative(path: str, what: str, manifest: Path) -> str:
    pure = PurePosixPath(path)
    if (
        not path
        or pure.is_absolute()
        or "\\" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise PackageError(f"{manifest}: {what} {path!r} is not a plain relative POSIX path")
    return path


def _safe_component(value: str, what: str, manifest: Path) -> str:
    if not value or not KEY_SEGMENT.fullmatch(value) or value in (".", ".."):
        raise PackageError(f"{manifest}: {what} {value!r} cannot be part of an object key")
    return value


def _ignored(rel: PurePosixPath) -> bool:
    """Files a package may gain after its build that no manifest lists: dotfiles and
    ``__pycache__`` (serving a package locally compiles its code)."""
    return any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def _section(
    kind: Kind,
    folder: Path,
    key_prefix: str,
    files: list[tuple[str, FileEntry]],
    manifest_path: Path,
    *,
    check_unlisted: bool = True,
) -> list[UploadItem]:
    items: list[UploadItem] = []
    seen: set[str] = set()
    for rel, entry in sorted(files, key=lambda pair: pair[0]):
        if rel in seen:
            raise PackageError(f"{manifest_path}: {kind} file {rel!r} is listed twice")
        seen.add(rel)
        local = folder / rel
        if not local.is_file():
            raise PackageError(f"{local}: listed in {manifest_path} but missing")
        actual = local.stat().st_size
        if actual != entry.size:
            raise HashMismatchError(
                f"{local}: {actual} bytes on disk but the manifest says {entry.size}; "
                "the package changed after it was built: rebuild it"
            )
        if not re.fullmatch(r"[0-9a-fA-F]{64}", entry.sha256):
            raise PackageError(f"{manifest_path}: {local}: sha256 {entry.sha256!r} is not hex")
        items.append(UploadItem(local, f"{key_prefix}/{rel}", entry.sha256.lower(), actual, kind))
    for path in sorted(folder.rglob("*")) if check_unlisted else []:
        rel_path = PurePosixPath(path.relative_to(folder).as_posix())
        if path.is_file() and not _ignored(rel_path) and rel_path.as_posix() not in seen:
            raise PackageError(
                f"{path}: in the {kind} folder but not in {manifest_path}; "
                "the package changed after it was built: rebuild it"
            )
    return items


def plan_upload(package_dir: Path) -> list[UploadItem]:
    """Every file to upload, in upload order: the model folder, then the manifest last.

    The weights prefix gets the whole model folder (the weights and ``genai_package.json``,
    as the manifest's ``weights.files`` lists them), so the prefix is what the container
    reads. Checks that each listed file exists with the listed size and that the folder
    holds nothing unlisted; the sha256 is checked while each file is read for upload.
    """
    package_dir = Path(package_dir)
    manifest = read_package_manifest(package_dir)
    manifest_path = package_dir / MANIFEST_NAME
    key_prefix = _safe_relative(manifest.weights.key_prefix.strip("/"), "key_prefix", manifest_path)
    digest = _safe_component(manifest.weights.digest, "weights.digest", manifest_path)
    weights_rel = PurePosixPath(_safe_relative(manifest.weights.folder, "folder", manifest_path))
    listed = [
        (_safe_relative(e.path, "weights file", manifest_path), e) for e in manifest.weights.files
    ]
    items = _section("weights", package_dir / weights_rel, key_prefix, listed, manifest_path)
    items.append(
        UploadItem(
            manifest_path,
            f"manifests/{manifest.cloud}/{digest}.json",
            sha256_of(manifest_path),
            manifest_path.stat().st_size,
            "manifest",
        )
    )
    return items
