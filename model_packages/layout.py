"""Shared package writing: fixed times and modes, the weights' file list.

Every file a builder writes goes through ``write_file`` so the bytes, mode and mtime are
the same on every build: same inputs, byte-identical package.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import scoring
from model_packages.manifest import FileEntry
from model_packages.staging import StagedModel

FIXED_MTIME = 946684800  # 2000-01-01T00:00:00Z: a package's files carry no build time
PACKAGE_INFO = "genai_package.json"  # read by scoring.server.model at container start
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = "runtime/Dockerfile"
SERVE_LOCK = "runtime/serve.lock"


def write_file(path: Path, data: bytes) -> FileEntry:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o644)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    return FileEntry(path=path.name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def package_info(staged: StagedModel) -> bytes:
    """``genai_package.json``: the file list the server verifies the weights against."""
    info = {
        "model_id": staged.model_id,
        "revision": staged.revision,
        "digest": staged.digest,
        "variant": getattr(staged, "variant", None),
        "engine_version": scoring.__version__,
        "files": [f.model_dump() for f in folder_files(staged)],
    }
    if staged.loras:  # what the engine finds in loras/ and safety/, for a reader
        info["loras"] = list(staged.loras)
    if staged.safety_checker:
        info["safety_checker"] = True
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()


def folder_files(staged: StagedModel) -> list[FileEntry]:
    """Every staged file of the model folder: the model's own, then LoRAs and safety
    files, sorted by path (``genai_package.json`` aside, which lists these)."""
    return sorted([*staged.files, *(x.entry for x in staged.extras)], key=lambda f: f.path)


def lock_sha256() -> str:
    """The serving lock the runtime image installs; a package records which one."""
    lock = PROJECT_ROOT / SERVE_LOCK
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else ""
