"""Model families: which diffusers pipeline a model folder holds, read without torch.

A family decides the tasks a model serves and the output size multiple it needs. It is
read from ``model_index.json``'s ``_class_name``, so packaging (no torch) and the engine
agree on it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path


class Family(StrEnum):
    SD = "sd"  # Stable Diffusion 1.x / 2.x: one CLIP text encoder, UNet
    SDXL = "sdxl"  # two CLIP text encoders, UNet with size/crop conditioning
    SD3 = "sd3"  # MMDiT transformer, two CLIP + one T5 text encoder, flow matching
    FLUX = "flux"  # FLUX.1-style transformer, CLIP + T5, flow matching, packed latents
    VIDEO = "video"  # text-to-video UNet3D (ModelScope-style TextToVideoSDPipeline)
    OTHER = "other"  # a pipeline the engine loads generically, untested here

    @property
    def tasks(self) -> tuple[str, ...]:
        return VIDEO_TASKS if self is Family.VIDEO else IMAGE_TASKS

    @property
    def size_multiple(self) -> int:
        """Output sides must be a multiple of this: the VAE's 8, times the transformer's 2x2
        patches (SD3) or latent packing (FLUX)."""
        return 16 if self in (Family.SD3, Family.FLUX) else 8


IMAGE_TASKS = ("image-to-image", "inpainting", "outpainting", "text-to-image")
VIDEO_TASKS = ("text-to-video",)
VIDEO_HINTS = ("Video", "AnimateDiff", "Wan", "LTX", "Mochi")

PIPELINE_FAMILIES = {
    "StableDiffusionPipeline": Family.SD,
    "StableDiffusionImg2ImgPipeline": Family.SD,
    "StableDiffusionXLPipeline": Family.SDXL,
    "StableDiffusionXLImg2ImgPipeline": Family.SDXL,
    "StableDiffusion3Pipeline": Family.SD3,
    "StableDiffusion3Img2ImgPipeline": Family.SD3,
    "FluxPipeline": Family.FLUX,
    "FluxImg2ImgPipeline": Family.FLUX,
    "TextToVideoSDPipeline": Family.VIDEO,
}


def family_of(class_name: str) -> Family:
    """The family of a pipeline class name; unknown video pipelines count as video."""
    if class_name in PIPELINE_FAMILIES:
        return PIPELINE_FAMILIES[class_name]
    if any(hint in class_name for hint in VIDEO_HINTS):
        return Family.VIDEO
    return Family.OTHER


def read_model_index(root: Path) -> dict:
    """``model_index.json`` as a dict; ``FileNotFoundError`` if the folder has none."""
    return json.loads((Path(root) / "model_index.json").read_text(encoding="utf-8"))


def components(index: dict) -> list[str]:
    """The module folders a pipeline loads: entries of the form ``name: [library, class]``
    with a class (``[null, null]`` marks an absent optional module)."""
    return sorted(
        name
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and len(value) == 2
        and value[1] is not None
    )
