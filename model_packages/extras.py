"""Files shipped beside a staged model: LoRA adapters, a safety checker, a prompt deny list.

``package --lora NAME=PATH`` (repeatable), ``--safety-checker PATH`` and ``--deny-terms
FILE`` add them to the package's model folder, where the engine finds them at start
(``scoring.loras``, ``scoring.safety``):

    loras/<name>.safetensors            one LoRA adapter (diffusers, Kohya or PEFT keys)
    safety/config.json                  a StableDiffusionSafetyChecker (CLIP config)
    safety/model.safetensors
    safety/preprocessor_config.json     its CLIP image processor
    safety/deny_terms.txt               one term or phrase per line
    compile-cache/<name>.bin            torch.compile caches (``--compile-cache``), written
                                        by a GPU replica after warm-up (scoring.speed)

Each is hashed once while read, hard-linked into every package and listed in
``genai_package.json`` and the manifest's ``weights.files``, so the server verifies it at
start like a weight. Only safetensors are shipped: pickle files (``.bin``, ``.pt``,
``.ckpt``) can run code when loaded and are refused. No torch here: a safetensors file is
checked by its header (the format is an 8-byte length, a JSON table of tensors, then the
data), so packaging needs only the core install.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

from model_packages.manifest import FileEntry
from model_packages.staging import (
    PICKLE_SUFFIXES,
    ExtraFile,
    StagedModel,
    StagingError,
    sha256_file,
)
from scoring.loras import LORA_FOLDER, NAME_RULE, NO_LORA_FAMILIES, valid_name
from scoring.safety import DENY_TERMS_FILE, SAFETY_FOLDER, read_terms
from scoring.speed import CACHE_FOLDER as COMPILE_CACHE_FOLDER

MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
CHECKER_CLASS = "StableDiffusionSafetyChecker"


def _extra(dest: str, source: Path) -> ExtraFile:
    entry = FileEntry(path=dest, sha256=sha256_file(source), size=source.stat().st_size)
    return ExtraFile(entry=entry, source=source)


def safetensors_problem(path: Path) -> str | None:
    """What makes ``path`` not a complete safetensors file, or None."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return "too short to be a safetensors file"
            (length,) = struct.unpack("<Q", head)
            if length > min(MAX_HEADER_BYTES, size - 8):
                return "not a safetensors file (bad header length)"
            header = json.loads(fh.read(length))
    except (OSError, ValueError) as exc:
        return f"not a safetensors file ({exc.__class__.__name__})"
    if not isinstance(header, dict):
        return "not a safetensors file (header is not a table)"
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return "not a safetensors file (bad tensor table)"
    if not tensors:
        return "holds no tensors"
    if 8 + length + end != size:
        return f"truncated or padded: {size} bytes, the header describes {8 + length + end}"
    return None


def _refuse_pickle(path: Path, option: str) -> None:
    if path.suffix in PICKLE_SUFFIXES:
        raise StagingError(
            f"{option}: {path.name} is a pickle file, which can run code when loaded; "
            "convert it to .safetensors"
        )


def parse_lora(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` → (name, path), with the name checked."""
    name, sep, path = spec.partition("=")
    if not sep or not path:
        raise StagingError(f"--lora {spec!r}: expected NAME=PATH (e.g. ink=loras/ink.safetensors)")
    if not valid_name(name):
        raise StagingError(f"--lora {spec!r}: name {name!r} is not allowed; allowed: {NAME_RULE}")
    return name, Path(path)


def lora_file(name: str, path: Path) -> Path:
    """The adapter's safetensors file: ``path`` itself, or the one in a folder (as
    ``save_lora_weights`` writes ``pytorch_lora_weights.safetensors``)."""
    option = f"--lora {name}={path}"
    if path.is_dir():
        pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
        found = sorted(path.glob("*.safetensors"))
        if len(found) != 1:
            if not found and pickles:
                _refuse_pickle(pickles[0], option)
            raise StagingError(
                f"{option}: the folder holds {len(found)} .safetensors files; allowed: exactly "
                "one, or give the file itself"
            )
        path = found[0]
    if not path.is_file():
        raise StagingError(f"{option}: no such file")
    _refuse_pickle(path, option)
    if path.suffix != ".safetensors":
        raise StagingError(f"{option}: allowed: a .safetensors file (got {path.name})")
    if problem := safetensors_problem(path):
        raise StagingError(f"{option}: {problem}")
    return path


def stage_loras(specs: list[str], family: str) -> list[ExtraFile]:
    """Every ``--lora NAME=PATH``, checked and hashed, as ``loras/<name>.safetensors``."""
    if specs and family in NO_LORA_FAMILIES:
        raise StagingError(
            f"--lora: {family} models cannot load LoRA adapters (diffusers' text-to-video "
            "UNet3D has no adapter support); package without --lora"
        )
    extras: list[ExtraFile] = []
    seen: set[str] = set()
    for spec in specs:
        name, path = parse_lora(spec)
        if name in seen:
            raise StagingError(f"--lora {spec!r}: name {name!r} is given twice")
        seen.add(name)
        extras.append(_extra(f"{LORA_FOLDER}/{name}.safetensors", lora_file(name, path)))
    return extras


def checker_sources(path: Path) -> dict[str, Path]:
    """The checker's three files, from a checker folder (config.json, model.safetensors,
    preprocessor_config.json: the layout of CompVis/stable-diffusion-safety-checker) or
    from an SD 1.x model folder (safety_checker/ and feature_extractor/)."""
    option = f"--safety-checker {path}"
    if not path.is_dir():
        raise StagingError(f"{option}: not a folder")
    if (path / "safety_checker").is_dir():
        base, processor = path / "safety_checker", path / "feature_extractor"
    else:
        base = processor = path
    sources = {
        "config.json": base / "config.json",
        "model.safetensors": base / "model.safetensors",
        "preprocessor_config.json": processor / "preprocessor_config.json",
    }
    for name, source in sources.items():
        if not source.is_file():
            pickles = [p.name for p in base.glob("*") if p.suffix in PICKLE_SUFFIXES]
            hint = (
                f" (found {pickles[0]}: pickle files can run code when loaded; convert to "
                ".safetensors)"
                if name == "model.safetensors" and pickles
                else ""
            )
            raise StagingError(f"{option}: missing {source.relative_to(path)}{hint}")
    try:
        config = json.loads(sources["config.json"].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StagingError(f"{option}: config.json is not valid JSON ({exc})") from None
    if CHECKER_CLASS not in (config.get("architectures") or []):
        raise StagingError(
            f"{option}: config.json does not describe a {CHECKER_CLASS} "
            f"(architectures: {config.get('architectures')})"
        )
    if problem := safetensors_problem(sources["model.safetensors"]):
        raise StagingError(f"{option}: model.safetensors: {problem}")
    return sources


def stage_safety_checker(path: Path) -> list[ExtraFile]:
    return [
        _extra(f"{SAFETY_FOLDER}/{name}", source)
        for name, source in checker_sources(Path(path)).items()
    ]


def stage_deny_terms(path: Path) -> tuple[ExtraFile, int]:
    """The deny list, checked line by line (the engine reads it the same way)."""
    path = Path(path)
    try:
        terms = read_terms(path.read_text(encoding="utf-8"), path.name)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StagingError(f"--deny-terms {path}: {exc}") from None
    if not terms:
        raise StagingError(f"--deny-terms {path}: holds no terms")
    return _extra(f"{SAFETY_FOLDER}/{DENY_TERMS_FILE}", path), len(terms)


def stage_compile_cache(folder: Path) -> list[ExtraFile]:
    """The ``*.bin`` compile caches in ``folder`` (``GENAI_COMPILE_CACHE_DIR`` of a replica
    that compiled and warmed up), each named for the GPU and library versions it fits."""
    folder = Path(folder)
    caches = sorted(folder.glob("*.bin")) if folder.is_dir() else []
    if not caches:
        raise StagingError(f"--compile-cache {folder}: no *.bin compile caches in that folder")
    return [_extra(f"{COMPILE_CACHE_FOLDER}/{path.name}", path) for path in caches]


def with_extras(
    staged: StagedModel,
    loras: list[str] | None = None,
    safety_checker: Path | None = None,
    deny_terms: Path | None = None,
    compile_cache: Path | None = None,
) -> StagedModel:
    """``staged`` with the adapters, checker, deny list and compile caches added to what
    it ships."""
    extras = stage_loras(list(loras or []), staged.family)
    names = tuple(x.entry.path.split("/")[1].removesuffix(".safetensors") for x in extras)
    count = 0
    if safety_checker is not None:
        extras += stage_safety_checker(safety_checker)
    if deny_terms is not None:
        extra, count = stage_deny_terms(deny_terms)
        extras.append(extra)
    if compile_cache is not None:
        extras += stage_compile_cache(compile_cache)
    taken = {f.path for f in staged.files}
    clash = sorted(x.entry.path for x in extras if x.entry.path in taken)
    if clash:
        raise StagingError(f"{clash[0]}: the model folder already has a file there")
    return dataclasses.replace(
        staged,
        extras=tuple(sorted(extras, key=lambda x: x.entry.path)),
        loras=tuple(sorted(names)),
        safety_checker=safety_checker is not None,
        deny_terms=count,
    )
