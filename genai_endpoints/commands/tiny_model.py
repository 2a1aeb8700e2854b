"""``genai-endpoints tiny-model``: a tiny random-weight pipeline of each family, offline."""

from __future__ import annotations

import os
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from genai_endpoints.commands.consoles import err, fail, out
from genai_endpoints.commands.signals import stops_cleanly


class TinyChoice(StrEnum):
    """The old --task names of tiny-model: kept as aliases of --family sd / video."""

    TEXT_TO_IMAGE = "text-to-image"
    TEXT_TO_VIDEO = "text-to-video"


class FamilyChoice(StrEnum):
    SD = "sd"
    SDXL = "sdxl"
    SD3 = "sd3"
    FLUX = "flux"
    VIDEO = "video"


@stops_cleanly()
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model to (created).")],
    family: Annotated[
        FamilyChoice | None,
        typer.Option(help="Model family: sd, sdxl, sd3, flux or video. Default: sd."),
    ] = None,
    task: Annotated[
        TinyChoice | None,
        typer.Option(help="Older name: text-to-image = --family sd, text-to-video = video."),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            help="Write only *.VARIANT.safetensors weights (fp16 or bf16), as many "
            "Hub checkpoints ship."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Weight seed; the same seed gives the same bytes.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace OUT_DIR if it already has files.")] = False,
) -> None:
    """Build a tiny random-weight diffusers pipeline (a few MB), offline.

    Each family has the real pipeline, module classes, tokenizers and scheduler, at toy
    size: sd, sdxl, sd3 and flux serve text-to-image, image-to-image, inpainting and
    outpainting; video serves text-to-video. They load through the same from_pretrained
    code as a real model, so everything but image quality is exercised.
    """
    from scoring.tiny import TinyKind

    chosen = FamilyChoice(TinyKind(task.value).family.value) if task else None
    if family is not None and chosen is not None and family is not chosen:
        fail(f"--task {task.value} means --family {chosen.value}, not {family.value}; give one")
    family = family or chosen or FamilyChoice.SD
    if variant is not None and variant not in ("fp16", "bf16"):
        fail(f"--variant: fp16 or bf16 (got {variant!r})")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        fail(f"OUT_DIR {out_dir} is not empty; pass --force to replace it")
    from scoring.tiny import build_tiny_model

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with (
        err.status(f"building tiny {family.value} model"),
        tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".tiny-") as tmp,
    ):
        build_tiny_model(Path(tmp) / "model", family.value, seed=seed, variants=(variant,))
        # built aside, then swapped in: a failure leaves any earlier model untouched
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(Path(tmp) / "model", out_dir)
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    what = f"{family.value} model" + (f" ({variant} weights)" if variant else "")
    out.print(f"wrote {what} to {out_dir} ({size / 1e6:.1f} MB)")
