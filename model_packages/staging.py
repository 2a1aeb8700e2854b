"""Stage a model's files once: hash while reading, hard-link (or copy once) into packages.

Weights are never compressed and never read twice when linking works: the hash of each
file is computed in one streamed pass, and every package links to the same inode.

Only the files the engine loads are staged: one weight variant (``scoring.variants``:
``--variant fp16``, or the one a folder holds; plain files where a folder has both), and
no weights outside the pipeline's module folders. So the package, its size and the GPU-fit
checks count each weight once, and a Hub staging downloads only those files.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from model_packages.manifest import FileEntry
from scoring.families import Family, components, family_of
from scoring.server.model import sha256_file
from scoring.variants import VariantError, choose_weights

CHUNK = 8 * 1024 * 1024
SKIP_DIRS = {".cache", ".git", ".huggingface", "__pycache__"}
PICKLE_SUFFIXES = (".bin", ".pt", ".ckpt", ".pth", ".pkl")
# file kinds a pipeline folder needs besides its weights: configs, vocabularies, SentencePiece
HUB_PATTERNS = ["*.json", "*.txt", "*.safetensors", "*.model", "*.md"]


class StagingError(Exception):
    """A model folder or Hub reference that can't be packaged; the message says why."""


@dataclass(frozen=True)
class ExtraFile:
    """A file shipped beside the model that comes from elsewhere (a LoRA adapter, the
    safety checker, the deny list): ``entry.path`` is its place in the package's model
    folder, ``source`` where it is read from. Hashed once, like the weights."""

    entry: FileEntry
    source: Path


@dataclass(frozen=True)
class StagedModel:
    root: Path
    model_id: str
    revision: str
    files: tuple[FileEntry, ...]
    digest: str
    tasks: tuple[str, ...]
    variant: str | None = None  # manifest model.variant, genai_package.json "variant"
    family: str = Family.OTHER.value  # manifest model.family, genai_package.json "family"
    left_out: tuple[str, ...] = ()  # weight files found but not staged (other variants)
    # shipped beside the model (model_packages.extras): not part of model.files/digest
    extras: tuple[ExtraFile, ...] = ()
    loras: tuple[str, ...] = ()  # adapter names: loras/<name>.safetensors
    safety_checker: bool = False  # safety/ holds a StableDiffusionSafetyChecker
    deny_terms: int = 0  # terms in safety/deny_terms.txt

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


def tree_digest(files: list[FileEntry] | tuple[FileEntry, ...]) -> str:
    """One sha256 for a file list: the content address of a folder."""
    lines = "".join(
        f"{f.sha256}  {f.size}  {f.path}\n" for f in sorted(files, key=lambda f: f.path)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def list_paths(root: Path) -> list[str]:
    """Every file under ``root`` (relative POSIX paths, sorted), hidden and cache folders
    skipped; pickle-based weights refused."""
    paths = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue
        if path.suffix in PICKLE_SUFFIXES:
            raise StagingError(
                f"{rel}: pickle-based weights are not packaged (they can run code when "
                "loaded); convert the model to safetensors"
            )
        paths.append(rel.as_posix())
    return paths


def hash_files(root: Path, paths: list[str] | tuple[str, ...]) -> list[FileEntry]:
    return [
        FileEntry(path=p, sha256=sha256_file(root / p), size=(root / p).stat().st_size)
        for p in sorted(paths)
    ]


def list_files(root: Path) -> list[FileEntry]:
    """Every file under ``root``, hashed (see ``list_paths``)."""
    return hash_files(root, list_paths(root))


def read_index(root: Path) -> dict:
    index = Path(root) / "model_index.json"
    if not index.is_file():
        raise StagingError(f"{root}: not a diffusers model folder (no model_index.json)")
    try:
        return json.loads(index.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StagingError(f"{index}: not valid JSON ({exc})") from None


def model_family(root: Path) -> Family:
    """The model's family, from model_index.json's ``_class_name`` (no torch needed)."""
    return family_of(str(read_index(root).get("_class_name", "")))


def model_tasks(root: Path) -> tuple[str, ...]:
    """The tasks a model folder serves, from model_index.json alone (no torch needed)."""
    return model_family(root).tasks


def select_weights(paths: list[str], index: dict, variant: str | None):
    """``scoring.variants.choose_weights`` with its refusal as a ``StagingError``."""
    try:
        return choose_weights(paths, components(index), variant)
    except VariantError as exc:
        raise StagingError(str(exc)) from None


def stage_local(
    root: Path,
    model_id: str | None = None,
    revision: str | None = None,
    variant: str | None = None,
) -> StagedModel:
    """Hash and describe the files of ``root`` the engine will load (one variant)."""
    root = Path(root)
    if not root.is_dir():
        raise StagingError(f"--model-dir: {root} is not a folder")
    index = read_index(root)
    family = family_of(str(index.get("_class_name", "")))
    choice = select_weights(list_paths(root), index, variant)
    if not any(p.endswith(".safetensors") for p in choice.keep):
        raise StagingError(f"{root}: no .safetensors weights found")
    files = tuple(hash_files(root, choice.keep))
    digest = tree_digest(files)
    return StagedModel(
        root=root,
        model_id=model_id or root.name,
        revision=revision or f"local-{digest[:12]}",
        files=files,
        digest=digest,
        tasks=family.tasks,
        variant=choice.variant,
        family=family.value,
        left_out=choice.left_out,
    )


def hub_allow_patterns(repo_files: list[str], index: dict, variant: str | None) -> list[str]:
    """The exact repo paths to download: the chosen variant's weights and the configs and
    vocabularies beside them; never another variant, a root single-file checkpoint or a
    pickle."""
    choice = select_weights(repo_files, index, variant)
    return sorted(
        p
        for p in choice.keep
        if any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], pat) for pat in HUB_PATTERNS)
    )


def stage_hub(
    model_id: str, revision: str, cache_dir: Path | None = None, variant: str | None = None
) -> StagedModel:
    """Download a pinned Hub snapshot (one variant's safetensors, configs) and stage it."""
    if not re.fullmatch(r"[0-9a-f]{40}", revision or ""):
        raise StagingError(
            f"--revision: {revision!r} is not a commit sha (40 hex characters); a branch or tag "
            "can move, so a package would not be reproducible"
        )
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # its retry notes would bury the one-line answer
    where = f"{model_id}@{revision[:12]}"
    try:
        index_path = hf_hub_download(
            repo_id=model_id, filename="model_index.json", revision=revision, cache_dir=cache_dir
        )
        index = json.loads(Path(index_path).read_text(encoding="utf-8"))
        repo_files = HfApi().list_repo_files(model_id, revision=revision)
        path = snapshot_download(
            repo_id=model_id,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=hub_allow_patterns(repo_files, index, variant),
        )
    except Exception as exc:  # the Hub client's many errors, each said in one line
        raise StagingError(f"--model-id {where}: {hub_problem(exc)}") from None
    return stage_local(Path(path), model_id=model_id, revision=revision, variant=variant)


def hub_problem(exc: Exception) -> str:
    """What went wrong fetching from the Hub, in one line a user can act on."""
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        return "the model is gated: accept its terms on the Hub and set HF_TOKEN"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return "no such model on the Hub (or it is private: set HF_TOKEN)"
    if isinstance(exc, errors.RevisionNotFoundError):
        return "no such commit in that model's repository"
    # LocalEntryNotFoundError is also an EntryNotFoundError: it must be asked first
    if isinstance(exc, errors.LocalEntryNotFoundError):
        return (
            "cannot reach the Hub and the files are not in the local cache; check the "
            "network (or HF_ENDPOINT), or package a local folder with --model-dir"
        )
    if isinstance(exc, (errors.EntryNotFoundError, errors.RemoteEntryNotFoundError)):
        return "not a diffusers model: it has no model_index.json at that commit"
    if isinstance(exc, OSError):
        return f"cannot reach the Hub ({exc.strerror or type(exc).__name__})"
    if isinstance(exc, errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        return f"the Hub answered HTTP {status}"
    if isinstance(exc, json.JSONDecodeError):
        return "its model_index.json is not valid JSON"
    return f"download failed ({type(exc).__name__})"


def place(staged: StagedModel, dest: Path) -> None:
    """Put the model's files (and the extras) under ``dest``: a hard link where the file
    system allows, else one streamed copy whose hash is checked against the staged one."""
    sources = [(e, staged.root / e.path) for e in staged.files]
    sources += [(x.entry, x.source) for x in staged.extras]
    for entry, source in sources:
        src = source.resolve()  # Hub snapshots are symlinks to blobs
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
