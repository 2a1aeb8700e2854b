"""The generation options `generate` (a local model) and `invoke` (a target) share: each
option's name and help once, how the options become a request, and how a schema error is
said in the options' words (``num_inference_steps: ...`` → ``--steps: ...``)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated

import typer

from genai_endpoints.commands.consoles import fail
from scoring.schema import Task

TaskOpt = Annotated[Task | None, typer.Option(help="Default: inferred from the other options.")]
NegativeOpt = Annotated[str | None, typer.Option(help="What to steer away from.")]
WidthOpt = Annotated[int | None, typer.Option(help="Pixels, multiple of 8.")]
HeightOpt = Annotated[int | None, typer.Option(help="Pixels, multiple of 8.")]
StepsOpt = Annotated[int | None, typer.Option(help="Denoising steps.")]
GuidanceOpt = Annotated[float | None, typer.Option(help="Classifier-free guidance scale.")]
SeedOpt = Annotated[int | None, typer.Option(help="Default: random, printed (and not cached).")]
NumOutputsOpt = Annotated[int | None, typer.Option(help="Outputs per request.")]
ImageOpt = Annotated[Path | None, typer.Option(help="Input image for image tasks.")]
MaskOpt = Annotated[Path | None, typer.Option(help="Inpainting mask: white = repaint.")]
StrengthOpt = Annotated[float | None, typer.Option(help="How much to change the image.")]
OutpaintOpt = Annotated[
    str | None, typer.Option(help="Pixels to add: LEFT,RIGHT,TOP,BOTTOM (multiples of 8).")
]
FramesOpt = Annotated[int | None, typer.Option(help="Video frames.")]
FpsOpt = Annotated[int | None, typer.Option(help="Video frames per second.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output file; its extension picks the format.")]

OPTION_OF_FIELD = {
    "prompt": "--prompt",
    "negative_prompt": "--negative-prompt",
    "width": "--width",
    "height": "--height",
    "num_inference_steps": "--steps",
    "guidance_scale": "--guidance",
    "seed": "--seed",
    "num_outputs": "--num-outputs",
    "image": "--image",
    "mask": "--mask",
    "strength": "--strength",
    "outpaint": "--outpaint",
    "num_frames": "--num-frames",
    "fps": "--fps",
    "output_format": "--out",
    "task": "--task",
}


def as_options(message: str) -> str:
    """Say a schema error in the CLI's words."""
    parts = []
    for part in message.split("; "):
        field, sep, rest = part.partition(": ")
        name = OPTION_OF_FIELD.get(field.split(".")[0])
        parts.append(f"{name}{field[len(field.split('.')[0]) :]}{sep}{rest}" if name else part)
    return "; ".join(parts)


def read_b64(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        return base64.b64encode(path.read_bytes()).decode()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror}")


def parse_outpaint(value: str | None) -> dict | None:
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        fail(f"--outpaint: expected LEFT,RIGHT,TOP,BOTTOM as four whole numbers (got {value!r})")
    return dict(zip(("left", "right", "top", "bottom"), (int(p) for p in parts), strict=True))


def request_from(
    prompt: str | None,
    *,
    task: Task | None = None,
    negative_prompt: str | None = None,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    num_outputs: int | None = None,
    image: Path | None = None,
    mask: Path | None = None,
    strength: float | None = None,
    outpaint: str | None = None,
    num_frames: int | None = None,
    fps: int | None = None,
    output_format: str | None = None,
) -> dict:
    """The options as a request object; an option left out is left to the default."""
    fields = {
        "prompt": prompt,
        "task": task.value if task else None,
        "negative_prompt": negative_prompt,
        "width": width,
        "height": height,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "seed": seed,
        "num_outputs": num_outputs,
        "image": read_b64(image, "--image"),
        "mask": read_b64(mask, "--mask"),
        "strength": strength,
        "outpaint": parse_outpaint(outpaint),
        "num_frames": num_frames,
        "fps": fps,
        "output_format": output_format,
    }
    return {k: v for k, v in fields.items() if v is not None}


def output_paths(out_file: Path, count: int) -> list[Path]:
    """Where ``count`` outputs go: ``--out`` for the first, ``NAME-2.EXT``, … after it."""
    return [
        out_file if i == 0 else out_file.with_name(f"{out_file.stem}-{i + 1}{out_file.suffix}")
        for i in range(count)
    ]
