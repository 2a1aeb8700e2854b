"""Shared package writing: the engine's code, the entry point, fixed times and modes.

Every file a builder writes goes through ``write_file`` so the bytes, mode and mtime are
the same on every build: same inputs, byte-identical package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import scoring
from model_packages.manifest import FileEntry
from model_packages.staging import StagedModel, sha256_file

FIXED_MTIME = 946684800  # 2000-01-01T00:00:00Z: a package's files carry no build time
PACKAGE_INFO = "genai_package.json"  # read by scoring.adapters.common at container start
# What the serving images lack, pinned to work beside what they carry: torch and
# transformers 4.x. These are not this dev environment's versions (transformers 5):
# diffusers >= 0.40 needs huggingface-hub >= 1, which every transformers 4.x refuses.
# tests/test_sagemaker_toolkit.py serves a package with exactly these pins under the real
# SageMaker toolkit (.venv-smtk, constraints-smtk.txt), and a test keeps the two in step.
SERVING_PINS = {
    "diffusers": "0.39.0",
    "huggingface_hub": "0.36.2",
    "accelerate": "1.15.0",
    "safetensors": "0.8.0",
    "pydantic": "2.11.10",
    "pydantic-settings": "2.16.3",
    "imageio": "2.38.1",
    "imageio-ffmpeg": "0.8.1",
}


def requirements() -> list[str]:
    """The pip pins a package installs into its serving container."""
    return [f"{name}=={ver}" for name, ver in SERVING_PINS.items()]


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
