"""Content safety: a prompt deny list checked before generation, and an optional safety
checker run on every output, with a per-deployment policy.

Deny list. Terms come from two places, both applied: the package's
``safety/deny_terms.txt`` (``genai-endpoints package --deny-terms FILE``: one term or
phrase per line, ``#`` comments; long curated lists, versioned with the weights) and
``GENAI_DENY_TERMS`` (a JSON list, set from the stack's ``engine.denyTerms``: short
additions that change with a config update, without re-uploading the weights). A prompt
that contains a term is refused with a 400 naming the rule, before anything queues.
Matching is on normalised text, the same normalisation for terms and prompts: Unicode
NFKC (full-width and ligature forms fold to plain letters), case folded, accents and
invisible format characters (zero-width spaces and joiners) dropped. Both are then split
into words and punctuation marks, and a term matches a run of the prompt's: whole words
only (``ass`` does not refuse ``class``), any whitespace between them (``red  fox`` is
``red fox``; ``red, fox`` is not). A term in a script written without spaces (CJK, Thai,
…) matches anywhere in the text. Only ``prompt`` is checked, not ``negative_prompt``:
the negative prompt is only ever steered away from (every family's pipeline uses it only
when ``guidance_scale > 1``, as the unconditional side of classifier-free guidance), and
teams put exactly the unwanted terms there; refusing them would refuse the safest
requests.

Safety checker. ``GENAI_SAFETY`` = ``off`` (default) | ``flag`` | ``blur`` |
``withhold``. When on, diffusers' ``StableDiffusionSafetyChecker`` (a CLIP vision model
and concept embeddings, shipped in the package's ``safety/`` folder by ``package
--safety-checker PATH``, or the model's own ``safety_checker`` module as SD 1.x
checkpoints have it) looks at every output (every frame of a video) and each output gets
an ``nsfw`` flag. ``flag`` only marks it; ``blur`` replaces a flagged output by a strong
Gaussian blur of it; ``withhold`` replaces it by a flat grey placeholder of the same
size: its pixels never leave the server. The pipelines' own built-in checker (which
silently blacks images out) is never run.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scoring.errors import ModelNotReady, RequestError, echo

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

SAFETY_FOLDER = "safety"  # inside the model folder: the checker and the deny list
CHECKER_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
DENY_TERMS_FILE = "deny_terms.txt"  # safety/deny_terms.txt
MAX_TERM_CHARS = 200
MAX_TERMS = 10_000
PLACEHOLDER_GREY = (128, 128, 128)
CHECK_BATCH = 16  # frames per safety-checker call
# scripts written without spaces between words: a term edge there needs no word boundary
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "TIBETAN")


# --------------------------------------------------------------------------- deny list


def normalise(text: str) -> str:
    """The form both terms and prompts are matched in (see the module docstring)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    kept = "".join(c for c in folded if unicodedata.category(c) not in ("Mn", "Cf"))
    return " ".join(unicodedata.normalize("NFC", kept).split())


_TOKEN = re.compile(r"\w+|[^\w\s]")  # words, and each punctuation mark on its own


def tokens(normal: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(normal))


def _unspaced(term: str) -> bool:
    """A term in a script written without spaces between words: matched as a substring."""
    return any(unicodedata.name(c, "").startswith(_UNSPACED) for c in term)


@dataclass(frozen=True)
class DenyRule:
    term: str  # as written in its source
    source: str  # where: "GENAI_DENY_TERMS[2]", "safety/deny_terms.txt line 14"


class DenyList:
    """Terms matched against normalised prompts. A prompt is split into words and
    punctuation marks; a term matches a run of them (so whole words only, any whitespace
    between), found through an index on each term's first word: the cost grows with the
    prompt's length, not the list's (10,000 terms cost what 10 do)."""

    def __init__(self, rules: Sequence[DenyRule]) -> None:
        self.rules: list[DenyRule] = []
        self._by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        self._substrings: list[tuple[str, int]] = []
        seen: set[str] = set()
        for rule in rules:
            term = normalise(rule.term)
            if not term or term in seen:
                continue
            seen.add(term)
            index = len(self.rules)
            self.rules.append(rule)
            if _unspaced(term):
                self._substrings.append((term, index))
            else:
                words = tokens(term)
                self._by_first.setdefault(words[0], []).append((words, index))

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, text: str) -> DenyRule | None:
        """The rule of the term found first in ``text`` (by position), or None."""
        normal = normalise(text)
        found: list[tuple[int, int]] = []  # (position in the text, rule index)
        for term, index in self._substrings:
            at = normal.find(term)
            if at >= 0:
                found.append((at, index))
        if self._by_first:
            for m in _TOKEN.finditer(normal):
                for words, index in self._by_first.get(m.group(), ()):
                    if _run_at(normal, m, words):
                        found.append((m.start(), index))
        return self.rules[min(found)[1]] if found else None

    def check(self, field: str, text: str | None) -> None:
        """A 400 naming the field and the rule if ``text`` holds a denied term."""
        rule = self.match(text) if text else None
        if rule is not None:
            raise RequestError(
                f"{field}: refused by the deployment's deny list (rule {rule.source}: "
                f"{echo(rule.term)}); nothing was generated",
                field=field,
            )

    @classmethod
    def load(cls, env_terms: Iterable[str], model_dir: Path | None) -> DenyList:
        """``GENAI_DENY_TERMS`` then the package's ``safety/deny_terms.txt``."""
        rules = [DenyRule(t, f"GENAI_DENY_TERMS[{i}]") for i, t in enumerate(env_terms)]
        for rule in rules:
            if problem := term_problem(rule.term):
                raise ModelNotReady(f"{rule.source}: {problem}")
        path = Path(model_dir) / SAFETY_FOLDER / DENY_TERMS_FILE if model_dir else None
        if path is not None and path.is_file():
            try:
                rules += read_terms(path.read_text(encoding="utf-8"), path.name)
            except (UnicodeDecodeError, ValueError) as exc:
                raise ModelNotReady(f"{SAFETY_FOLDER}/{DENY_TERMS_FILE}: {exc}") from None
        deny = cls(rules)
        if deny.rules:
            log.info("prompt deny list: %d terms", len(deny))
        return deny


def _run_at(normal: str, first: re.Match, words: tuple[str, ...]) -> bool:
    """Whether the tokens of ``normal`` from the token ``first`` on begin with ``words``."""
    rest = _TOKEN.finditer(normal, first.end())
    for word in words[1:]:
        found = next(rest, None)
        if found is None or found.group() != word:
            return False
    return True


def term_problem(term: str) -> str | None:
    """What makes ``term`` unusable as a deny rule, or None."""
    if not normalise(term):
        return "empty term"
    if len(term) > MAX_TERM_CHARS:
        return f"a term has at most {MAX_TERM_CHARS} characters (got {len(term)})"
    if any(unicodedata.category(c) == "Cc" for c in term):
        return "a term may not hold control characters"
    return None


def read_terms(text: str, name: str = DENY_TERMS_FILE) -> list[DenyRule]:
    """One term or phrase per line; blank lines and ``#`` comments skipped. Raises
    ``ValueError`` naming the line of a bad term."""
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        term = line.strip()
        if not term or term.startswith("#"):
            continue
        if problem := term_problem(term):
            raise ValueError(f"line {number}: {problem}")
        rules.append(DenyRule(term, f"{SAFETY_FOLDER}/{name} line {number}"))
    if len(rules) > MAX_TERMS:
        raise ValueError(f"at most {MAX_TERMS} terms (got {len(rules)})")
    return rules


# --------------------------------------------------------------------------- checker


class SafetyChecker:
    """diffusers' ``StableDiffusionSafetyChecker`` and its CLIP image processor."""

    def __init__(self, model, processor, device: str, dtype) -> None:
        self.model = model.to(device=device, dtype=dtype).eval()
        self.processor = processor
        self.device = device
        self.dtype = dtype

    @classmethod
    def from_folder(cls, folder: Path, device: str, dtype) -> SafetyChecker:
        """Load ``folder`` (config.json, model.safetensors, preprocessor_config.json),
        refusing weights that don't match the checker's code, as for the model."""
        from diffusers.pipelines.stable_diffusion.safety_checker import (
            StableDiffusionSafetyChecker,
        )
        from transformers import CLIPImageProcessor

        from scoring.checkpoint import check_loading_info, dtype_kwargs

        missing = [f for f in CHECKER_FILES if not (folder / f).is_file()]
        if missing:
            raise ModelNotReady(f"{SAFETY_FOLDER}/: missing {', '.join(missing)}")
        try:
            model, info = StableDiffusionSafetyChecker.from_pretrained(
                folder,
                **dtype_kwargs("transformers", dtype),
                use_safetensors=True,
                local_files_only=True,
                output_loading_info=True,
            )
            processor = CLIPImageProcessor.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            raise ModelNotReady(f"{SAFETY_FOLDER}/: cannot load the safety checker: {exc}") from exc
        check_loading_info(SAFETY_FOLDER, "StableDiffusionSafetyChecker", info)
        return cls(model, processor, device, dtype)

    def flags(self, outputs: Sequence[Sequence[Image.Image]]) -> list[bool]:
        """One flag per output: True if the checker flags any of its frames."""
        import numpy as np
        import torch

        frames = [(i, frame) for i, output in enumerate(outputs) for frame in output]
        flagged = [False] * len(outputs)
        for start in range(0, len(frames), CHECK_BATCH):
            batch = frames[start : start + CHECK_BATCH]
            pixels = self.processor([f for _, f in batch], return_tensors="pt").pixel_values
            with torch.inference_mode():
                _, nsfw = self.model(
                    clip_input=pixels.to(device=self.device, dtype=self.dtype),
                    images=[np.zeros(1) for _ in batch],
                )
            for (i, _), hit in zip(batch, nsfw, strict=True):
                flagged[i] = flagged[i] or bool(hit)
        return flagged


def blur_radius(size: tuple[int, int]) -> float:
    """Strong enough that no detail survives: 1/16 of the longest side, at least 8 px."""
    return max(8.0, max(size) / 16)


def apply_policy(
    policy: str, outputs: list[list[Image.Image]], flags: Sequence[bool]
) -> list[list[Image.Image]]:
    """The outputs as the policy sends them: flagged ones blurred or replaced."""
    from PIL import Image, ImageFilter

    if policy not in ("blur", "withhold"):
        return outputs
    result = []
    for frames, flagged in zip(outputs, flags, strict=True):
        if not flagged:
            result.append(frames)
        elif policy == "blur":
            result.append([f.filter(ImageFilter.GaussianBlur(blur_radius(f.size))) for f in frames])
        else:
            result.append([Image.new("RGB", f.size, PLACEHOLDER_GREY) for f in frames])
    return result
