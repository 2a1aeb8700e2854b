"""Find a package's weights, verify them against its file list, and load the engine.

A package carries ``genai_package.json`` beside the weights: the model id, revision,
variant and the sha256 and size of every file. Verifying them at start turns a truncated
download or a flipped bit into a readiness failure that names the file, instead of a
model that loads and answers with garbage.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from scoring.errors import ModelNotReady

log = logging.getLogger(__name__)

PACKAGE_INFO = "genai_package.json"
CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class PackageInfo:
    """What ``genai_package.json`` says about the weights beside it."""

    model_id: str | None
    revision: str | None
    variant: str | None
    files: tuple[dict[str, Any], ...]

    @classmethod
    def read(cls, path: Path) -> PackageInfo:
        try:
            data = json.loads(path.read_text())
            files = tuple(data.get("files", []))
            for entry in files:
                safe_relative(entry["path"])
                int(entry["size"])
                str(entry["sha256"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelNotReady(f"{path.name}: unreadable package file list ({exc})") from None
        return cls(data.get("model_id"), data.get("revision"), data.get("variant"), files)


def safe_relative(path: str) -> PurePosixPath:
    """A listed path must stay inside the model folder: no absolute paths, no '..'."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"file path {path!r} must be relative and inside the model folder")
    return rel


def find_model_dir(root: Path) -> Path:
    """The folder holding model_index.json: ``root`` itself or one level below it (Azure
    ML mounts a model asset inside a folder named after it)."""
    if (root / "model_index.json").is_file():
        return root
    below = sorted(p.parent for p in root.glob("*/model_index.json"))
    if len(below) == 1:
        return below[0]
    raise ModelNotReady(f"no diffusers model (model_index.json) in {root} or its subfolders")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(model_dir: Path, files: tuple[dict[str, Any], ...]) -> float:
    """Hash every listed file (in parallel, ``scoring.server.weight_reads``); a missing or
    changed one fails the load naming it. Returns the seconds the hashing took."""
    from scoring.server.weight_reads import VerifiedReads

    return VerifiedReads(model_dir, files, keep=False).wait()


def list_digest(entries: list[tuple[str, int, str]]) -> str:
    """The content address of a file list, as ``model_packages.staging.tree_digest``
    computes a package's ``weights.digest``: sha256 over ``"<sha256>  <size>  <path>\n"``
    lines sorted by path (tests/scoring/server/test_settings.py keeps the two equal)."""
    lines = "".join(f"{sha}  {size}  {path}\n" for path, size, sha in sorted(entries))
    return hashlib.sha256(lines.encode()).hexdigest()


def package_digest(info_path: Path, info: PackageInfo) -> str:
    """The weights' content address: the listed files plus ``genai_package.json`` itself
    (which the digest covers), hashed from the list alone, without reading a weight."""
    data = info_path.read_bytes()
    own = (PACKAGE_INFO, len(data), hashlib.sha256(data).hexdigest())
    listed = [(str(e["path"]), int(e["size"]), str(e["sha256"])) for e in info.files]
    return list_digest([*listed, own])


def check_digest(info_path: Path, info: PackageInfo | None, digest: str | None) -> None:
    """The package on disk must be the one the plan deployed (``GENAI_WEIGHTS_DIGEST``):
    a model folder swapped under a deployment names both digests instead of serving."""
    if not digest:
        return
    if info is None:
        raise ModelNotReady(
            f"GENAI_WEIGHTS_DIGEST={digest} but the model folder has no {PACKAGE_INFO} "
            "to check it against"
        )
    found = package_digest(info_path, info)
    if found != digest:
        raise ModelNotReady(
            f"weights: the package's file list has digest {found}; the deployment "
            f"expects {digest} (GENAI_WEIGHTS_DIGEST): another package is in the model folder"
        )


def read_package(model_dir: Path, *, verify: bool, digest: str | None = None) -> PackageInfo | None:
    """The package's file list, checked against the deployed digest (when given) and the
    files on disk unless ``verify`` is off."""
    info_path = model_dir / PACKAGE_INFO
    if not info_path.is_file():
        check_digest(info_path, None, digest)
        log.warning("%s has no %s: weights are not verified", model_dir, PACKAGE_INFO)
        return None
    info = PackageInfo.read(info_path)
    check_digest(info_path, info, digest)
    if verify:
        verify_weights(model_dir, info.files)
    return info
