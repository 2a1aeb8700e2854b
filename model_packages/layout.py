"""Shared package writing: the engine's code, the entry point, fixed times and modes.

Every file a builder writes goes through ``write_file`` so the bytes, mode and mtime are
the same on every build: same inputs, byte-identical package.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import scoring
from model_packages.manifest import FileEntry
from model_packages.staging import StagedModel, sha256_file

FIXED_MTIME = 946684800  # 2000-01-01T00:00:00Z: a package's files carry no build time
PACKAGE_INFO = "genai_package.json"  # read by scoring.adapters.common at container start
# What the serving images lack. torch and transformers come with each cloud's image.
SERVING_REQUIREMENTS = (
    "diffusers",
    "accelerate",
    "safetensors",
    "pydantic",
    "pydantic-settings",
    "imageio",
    "imageio-ffmpeg",
)


def requirements() -> list[str]:
    """Exact pins of what this environment runs, so the container runs the same."""
    return [f"{name}=={version(name)}" for name in SERVING_REQUIREMENTS]


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o644)
    os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def write_code(dest: Path, entry_name: str, entry_source: str, staged: StagedModel) -> None:
    """The engine (``scoring`` package), the entry point, the weight list, requirements."""
    engine_root = Path(scoring.__file__).parent
    for src in sorted(engine_root.rglob("*.py")):
        rel = src.relative_to(engine_root)
        if "__pycache__" in rel.parts:
            continue
        write_file(dest / "scoring" / rel, src.read_bytes())
    write_file(dest / entry_name, entry_source.encode())
    write_file(dest / "requirements.txt", ("\n".join(requirements()) + "\n").encode())
    info = {
        "model_id": staged.model_id,
        "revision": staged.revision,
        "digest": staged.digest,
        "engine_version": scoring.__version__,
        "files": [f.model_dump() for f in staged.files],
    }
    write_file(dest / PACKAGE_INFO, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())


def list_tree(root: Path, skip: set[str] | frozenset[str] = frozenset()) -> list[FileEntry]:
    """Every file under ``root`` but the ``skip`` paths (relative), sorted, with its hash."""
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() or path.relative_to(root).as_posix() in skip:
            continue
        out.append(
            FileEntry(
                path=path.relative_to(root).as_posix(),
                sha256=sha256_file(path),
                size=path.stat().st_size,
            )
        )
    return out
