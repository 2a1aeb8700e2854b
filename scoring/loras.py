"""LoRA adapters shipped in a package: loaded once at start, selected per request.

A package holds each adapter as ``loras/<name>.safetensors`` beside the model (written by
``genai-endpoints package --lora NAME=PATH``, hashed and verified like the weights). At
load every adapter is injected into the pipeline's modules under its own name
(``load_lora_weights(..., adapter_name=name)``, diffusers' PEFT backend) and left
inactive; each generation then sets the whole adapter state for itself: the request's
adapters at their scales (``enable_lora`` + ``set_adapters``), or none (``disable_lora``).
``set_adapters`` alone does not re-enable adapters after ``disable_lora`` (PEFT keeps the
disabled flag), so both calls are made every time, and a request's adapters can never
carry over into the next one.

Adapters live in the modules (UNet/transformer, text encoders), which the image-to-image
and inpainting pipelines share with the base one, so one selection covers every task.
Families: sd and sdxl (UNet + text encoders), sd3 and flux (transformer + text encoders)
load and select adapters with these calls in diffusers 0.42; the text-to-video UNet3D has
no adapter support, so packaging refuses LoRAs for video models.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from warnings import catch_warnings, filterwarnings

from scoring.errors import ModelNotReady

log = logging.getLogger(__name__)

LORA_FOLDER = "loras"  # inside the model folder: loras/<name>.safetensors
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # a file stem and a PEFT adapter name (no '.')
NAME_RULE = "1-64 of a-z, 0-9, '-', '_', starting with a letter or digit"
MAX_LORAS_PER_REQUEST = 8
MIN_SCALE, MAX_SCALE = -4.0, 4.0
NO_LORA_FAMILIES = ("video",)  # TextToVideoSDPipeline's UNet3DConditionModel: no PEFT mixin

_NAME = re.compile(NAME_PATTERN)


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def find_loras(model_dir: Path) -> dict[str, Path]:
    """``{name: file}`` for every adapter shipped in ``model_dir/loras/``."""
    folder = Path(model_dir) / LORA_FOLDER
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".safetensors" or not valid_name(path.stem):
            raise ModelNotReady(
                f"{LORA_FOLDER}/{path.name}: not an adapter file (<name>.safetensors, name "
                f"{NAME_RULE}); repackage with `genai-endpoints package --lora NAME=PATH`"
            )
        found[path.stem] = path
    return found


class _Collect(logging.Handler):
    """Warnings diffusers logs while loading an adapter (keys it could not place)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _diffusers_warnings():
    """Collect diffusers' warnings for the duration (the engine sets its verbosity to
    errors, which would hide the unexpected/missing-key reports)."""
    logger = logging.getLogger("diffusers")
    handler, level, handlers = _Collect(), logger.level, logger.handlers[:]
    logger.handlers = [handler]  # diffusers' own handler would print them to stderr
    logger.setLevel(logging.WARNING)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler.messages
    finally:
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def load_loras(pipe, loras: dict[str, Path], family: str) -> tuple[str, ...]:
    """Inject every adapter into ``pipe`` under its name, then leave all inactive.

    An adapter that does not fit the model (keys for another architecture, shapes that
    differ, weights left unplaced) fails the load naming it, like a mismatched checkpoint.
    """
    if not loras:
        return ()
    if family in NO_LORA_FAMILIES or not hasattr(pipe, "load_lora_weights"):
        raise ModelNotReady(
            f"{LORA_FOLDER}/: {type(pipe).__name__} ({family}) cannot load LoRA adapters; "
            "repackage without --lora"
        )
    for name, path in loras.items():
        with _diffusers_warnings() as warnings, catch_warnings():
            # PEFT warns when a second adapter joins a model: several is the point here
            filterwarnings("ignore", message="Already found a `peft_config`")
            try:
                pipe.load_lora_weights(str(path), adapter_name=name)
            except Exception as exc:
                raise ModelNotReady(
                    f"{LORA_FOLDER}/{path.name}: does not fit {type(pipe).__name__}: "
                    f"{str(exc)[:300]}"
                ) from exc
        unplaced = [m for m in warnings if "unexpected keys" in m or "missing keys" in m]
        loaded = {n for names in pipe.get_list_adapters().values() for n in names}
        if unplaced or name not in loaded:
            why = unplaced[0][:300] if unplaced else "none of its weights match the model"
            raise ModelNotReady(
                f"{LORA_FOLDER}/{path.name}: does not fit {type(pipe).__name__}: {why}"
            )
    pipe.disable_lora()
    log.info("loaded %d LoRA adapter(s): %s", len(loras), ", ".join(loras))
    return tuple(loras)


def select(pipe, chosen: Iterable[tuple[str, float]]) -> None:
    """Make exactly ``chosen`` (name, scale) active on ``pipe``'s modules, or none."""
    chosen = list(chosen)
    if not chosen:
        pipe.disable_lora()
        return
    pipe.enable_lora()
    pipe.set_adapters([n for n, _ in chosen], adapter_weights=[s for _, s in chosen])
