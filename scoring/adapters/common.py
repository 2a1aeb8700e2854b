"""What every adapter does at start: find the weights, verify them, load the engine.

A package carries ``genai_package.json`` beside its entry point: the model id, revision
and the sha256 of every weight file. Verifying them at load turns a truncated download or
a flipped bit into a readiness failure that names the file, instead of a model that loads
and answers with garbage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from scoring.engine import Engine
from scoring.errors import ModelNotReady
from scoring.service import Scorer
from scoring.settings import EngineSettings

log = logging.getLogger(__name__)

PACKAGE_INFO = "genai_package.json"
CHUNK = 8 * 1024 * 1024


def find_model_dir(root: Path) -> Path:
    """The folder holding model_index.json: ``root`` itself or one level below it."""
    if (root / "model_index.json").is_file():
        return root
    below = sorted(p.parent for p in root.glob("*/model_index.json"))
    if len(below) == 1:
        return below[0]
    raise ModelNotReady(f"no diffusers model (model_index.json) in {root} or its subfolders")


def verify_weights(model_dir: Path, files: list[dict]) -> None:
    """Stream-hash each listed file; the first missing or changed one fails the load."""
    for entry in files:
        path = model_dir / entry["path"]
        if not path.is_file():
            raise ModelNotReady(f"weights: {entry['path']} is missing from {model_dir}")
        size = path.stat().st_size
        if size != entry["size"]:
            raise ModelNotReady(
                f"weights: {entry['path']} has {size} bytes, the package says {entry['size']}"
            )
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != entry["sha256"]:
            raise ModelNotReady(f"weights: {entry['path']} is corrupted (sha256 mismatch)")


def load_scorer(model_root: Path, info_file: Path | None) -> Scorer:
    """Verify the package's weights (unless GENAI_VERIFY_WEIGHTS=0) and load the engine."""
    model_dir = find_model_dir(Path(model_root))
    model_id, revision = None, "unpinned"
    if info_file is not None and info_file.is_file():
        info = json.loads(info_file.read_text())
        model_id, revision = info["model_id"], info["revision"]
        if os.environ.get("GENAI_VERIFY_WEIGHTS", "1") != "0":
            verify_weights(model_dir, info["files"])
            log.info("verified %d weight files in %s", len(info["files"]), model_dir)
    settings = EngineSettings(model_dir=model_dir)
    settings = settings.model_copy(
        update={
            "model_id": settings.model_id or model_id,
            "model_revision": revision if revision != "unpinned" else settings.model_revision,
        }
    )
    return Scorer(Engine(settings))
