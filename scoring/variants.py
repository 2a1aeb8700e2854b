"""Weight variants (``model.fp16.safetensors`` beside ``model.safetensors``): which files
a pipeline loads, decided from file names alone.

Packaging and the engine share this rule, so a package holds exactly the files the engine
loads:
- ``variant`` given: each module loads its ``<variant>`` files, or its plain files where it
  has no such variant (as diffusers does per module).
- no variant: plain files where every module has them (a folder with both picks the plain
  ones); otherwise the one variant the folder holds (an fp16-only checkpoint); several
  variants and no plain files is ambiguous and named as such.
Weights outside the pipeline's module folders (single-file checkpoints at a repo's root)
are never loaded by ``from_pretrained``, so they are left out too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

_SHARD = re.compile(r"-\d+-of-\d+$")
_INDEX = re.compile(r"^(?P<base>.+)\.safetensors\.index(?:\.(?P<variant>[^.]+))?\.json$")


class VariantError(ValueError):
    """No consistent set of weights for the asked (or detected) variant; says why."""


def weight_variant(name: str) -> tuple[bool, str | None]:
    """``(is_weight_file, variant)`` for a file name (no folder).

    ``model.safetensors`` → (True, None); ``model.fp16.safetensors``,
    ``model.fp16-00001-of-00002.safetensors`` and ``model.safetensors.index.fp16.json`` →
    (True, "fp16"); ``config.json`` → (False, None).
    """
    match = _INDEX.match(name)
    if match:
        return True, match["variant"]
    if not name.endswith(".safetensors"):
        return False, None
    parts = [_SHARD.sub("", p) for p in name[: -len(".safetensors")].split(".")[1:]]
    tag = ".".join(p for p in parts if p)
    return True, tag or None


@dataclass(frozen=True)
class WeightChoice:
    variant: str | None  # the variant loaded (None: plain files)
    keep: tuple[str, ...]  # every path to package / load: configs, tokenizers, chosen weights
    left_out: tuple[str, ...]  # weight files not loaded: other variants, stray checkpoints


def choose_weights(
    paths: list[str] | tuple[str, ...], modules: list[str], variant: str | None = None
) -> WeightChoice:
    """Pick the weight files of one variant from a folder's relative POSIX ``paths``.

    ``modules`` are the pipeline's module folders (``scoring.families.components``).
    """
    by_module: dict[str, dict[str | None, list[str]]] = defaultdict(lambda: defaultdict(list))
    others, stray = [], []
    for path in paths:
        is_weight, tag = weight_variant(path.rsplit("/", 1)[-1])
        if not is_weight:
            others.append(path)
            continue
        parts = path.split("/")
        if len(parts) == 2 and parts[0] in modules:
            by_module[parts[0]][tag].append(path)
        else:
            stray.append(path)
    available = sorted({tag for tags in by_module.values() for tag in tags if tag is not None})
    if variant is None:
        lacking = sorted(m for m, tags in by_module.items() if None not in tags)
        if lacking:
            candidates = sorted({t for m in lacking for t in by_module[m]})
            if len(candidates) != 1:
                raise VariantError(
                    f"{', '.join(lacking)} ha{'s' if len(lacking) == 1 else 've'} no plain "
                    f"weights and several variants ({', '.join(candidates)}); choose one "
                    "with --variant (GENAI_VARIANT when serving)"
                )
            variant = candidates[0]
    elif variant not in available:
        have = ", ".join(available) if available else "none (plain weights only)"
        raise VariantError(
            f"variant {variant}: no module has *.{variant}.safetensors weights; "
            f"variants here: {have}"
        )
    keep, left_out = list(others), list(stray)
    for module, tags in sorted(by_module.items()):
        tag = variant if variant in tags else None
        if tag not in tags:
            raise VariantError(
                f"{module}: has neither {variant} nor plain weights "
                f"(only {', '.join(sorted(t for t in tags if t))})"
            )
        for other, files in tags.items():
            (keep if other == tag else left_out).extend(files)
    return WeightChoice(variant, tuple(sorted(keep)), tuple(sorted(left_out)))


def module_variant(files: list[str], variant: str | None) -> str | None:
    """The variant one module loads given its file names: ``variant`` if it has such
    weights, else None (its plain weights), as diffusers decides per module."""
    if variant is None:
        return None
    return variant if any(weight_variant(f) == (True, variant) for f in files) else None
