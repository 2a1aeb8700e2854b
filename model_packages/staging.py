"""Stage a model's files once: hash while reading, hard-link (or copy once) into packages.

Weights are never compressed and never read twice when linking works: the hash of each
file is computed in one streamed pass, and every package links to the same inode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from model_packages.manifest import FileEntry

CHUNK = 8 * 1024 * 1024
SKIP_DIRS = {".cache", ".git", ".huggingface", "__pycache__"}
VIDEO_HINTS = ("Video", "AnimateDiff", "Wan", "LTX", "Mochi")
IMAGE_TASKS = ["image-to-image", "inpainting", "outpainting", "text-to-image"]
HUB_PATTERNS = ["*.json", "*.txt", "*.safetensors", "*.model", "*.md"]


class StagingError(Exception):
    """A model folder or Hub reference that can't be packaged; the message says why."""


@dataclass(frozen=True)
class StagedModel:
    root: Path
    model_id: str
    revision: str
    files: tuple[FileEntry, ...]
    digest: str
    tasks: tuple[str, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(files: list[FileEntry] | tuple[FileEntry, ...]) -> str:
    """One sha256 for a file list: the content address of a folder."""
    lines = "".join(
        f"{f.sha256}  {f.size}  {f.path}\n" for f in sorted(files, key=lambda f: f.path)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def list_files(root: Path) -> list[FileEntry]:
    entries = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.suffix in (".bin", ".pt", ".ckpt", ".pth", ".pkl"):
            raise StagingError(
                f"{rel}: pickle-based weights are not packaged (they can run code when "
                "loaded); convert the model to safetensors"
            )
        entries.append(
            FileEntry(path=rel.as_posix(), sha256=sha256_file(path), size=path.stat().st_size)
        )
    return entries


def model_tasks(root: Path) -> tuple[str, ...]:
    """The tasks a model folder serves, from model_index.json alone (no torch needed)."""
    index = root / "model_index.json"
    if not index.is_file():
        raise StagingError(f"{root}: not a diffusers model folder (no model_index.json)")
    class_name = json.loads(index.read_text()).get("_class_name", "")
    if any(hint in class_name for hint in VIDEO_HINTS):
        return ("text-to-video",)
    return tuple(IMAGE_TASKS)


def stage_local(
    root: Path, model_id: str | None = None, revision: str | None = None
) -> StagedModel:
    root = Path(root)
    if not root.is_dir():
        raise StagingError(f"--model-dir: {root} is not a folder")
    tasks = model_tasks(root)
    files = tuple(list_files(root))
    if not any(f.path.endswith(".safetensors") for f in files):
        raise StagingError(f"{root}: no .safetensors weights found")
    digest = tree_digest(files)
    return StagedModel(
        root=root,
        model_id=model_id or root.name,
        revision=revision or f"local-{digest[:12]}",
        files=files,
        digest=digest,
        tasks=tasks,
    )


def stage_hub(model_id: str, revision: str, cache_dir: Path | None = None) -> StagedModel:
    """Download a pinned Hub snapshot (safetensors only) and stage it."""
    if not re.fullmatch(r"[0-9a-f]{40}", revision or ""):
        raise StagingError(
            f"--revision: {revision!r} is not a commit sha (40 hex characters); a branch or tag "
            "can move, so a package would not be reproducible"
        )
    from huggingface_hub import snapshot_download

    path = snapshot_download(
        repo_id=model_id, revision=revision, cache_dir=cache_dir, allow_patterns=HUB_PATTERNS
    )
    return stage_local(Path(path), model_id=model_id, revision=revision)


def place(staged: StagedModel, dest: Path) -> None:
    """Put the model's files under ``dest``: a hard link where the file system allows,
    else one streamed copy whose hash is checked against the staged one."""
    for entry in staged.files:
        src = (staged.root / entry.path).resolve()  # Hub snapshots are symlinks to blobs
        target = dest / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()
        try:
            os.link(src, target)
        except OSError:
            digest = hashlib.sha256()
            with src.open("rb") as fin, target.open("wb") as fout:
                while chunk := fin.read(CHUNK):
                    digest.update(chunk)
                    fout.write(chunk)
            if digest.hexdigest() != entry.sha256:
                raise StagingError(f"{entry.path}: changed while being packaged") from None
