"""The ``genai-endpoints`` command: thin wrappers over the project's packages.

Heavy modules (torch, diffusers, cloud SDKs) are imported inside the commands that need
them, so ``--help`` and the cloud commands start fast.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    help="Generative image and video models on GPU endpoints on SageMaker, Vertex AI and Azure ML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True)
out = Console()


class TaskChoice(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    INPAINTING = "inpainting"
    OUTPAINTING = "outpainting"
    TEXT_TO_VIDEO = "text-to-video"


class TinyChoice(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    TEXT_TO_VIDEO = "text-to-video"


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: no traceback for a user's mistake."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the scoring engine's version."""
    from scoring import __version__

    out.print(__version__)


@app.command("tiny-model")
def tiny_model(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the model to (created).")],
    task: Annotated[TinyChoice, typer.Option(help="Which kind of pipeline to build.")] = (
        TinyChoice.TEXT_TO_IMAGE
    ),
    seed: Annotated[int, typer.Option(help="Weight seed; the same seed gives the same bytes.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace OUT_DIR if it already has files.")] = False,
) -> None:
    """Build a tiny random-weight diffusers pipeline (a few MB), offline.

    A text-to-image model serves text-to-image, image-to-image, inpainting and
    outpainting; a text-to-video model serves text-to-video. They load through the same
    from_pretrained code as a real model, so everything but image quality is exercised.
    """
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        fail(f"OUT_DIR {out_dir} is not empty; pass --force to replace it")
    from scoring.tiny import TinyKind, build_tiny_model

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with (
        err.status(f"building tiny {task.value} model"),
        tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".tiny-") as tmp,
    ):
        build_tiny_model(Path(tmp) / "model", TinyKind(task.value), seed=seed)
        # built aside, then swapped in: a failure leaves any earlier model untouched
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(Path(tmp) / "model", out_dir)
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    out.print(f"wrote {task.value} model to {out_dir} ({size / 1e6:.1f} MB)")


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
    """Say a schema error in the CLI's words: ``num_inference_steps: ...`` → ``--steps: ...``."""
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


@app.command()
def generate(
    model_dir: Annotated[Path, typer.Option(help="A diffusers model folder.")],
    prompt: Annotated[str, typer.Option(help="What to generate.")],
    out_file: Annotated[
        Path, typer.Option("--out", help="Output file; its extension picks the format.")
    ],
    task: Annotated[TaskChoice | None, typer.Option(help="Default: inferred.")] = None,
    negative_prompt: Annotated[str | None, typer.Option()] = None,
    width: Annotated[int | None, typer.Option(help="Pixels, multiple of 8.")] = None,
    height: Annotated[int | None, typer.Option(help="Pixels, multiple of 8.")] = None,
    steps: Annotated[int, typer.Option(help="Denoising steps.")] = 30,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale.")] = 7.5,
    seed: Annotated[int | None, typer.Option(help="Default: random, printed.")] = None,
    image: Annotated[Path | None, typer.Option(help="Input image for image tasks.")] = None,
    mask: Annotated[Path | None, typer.Option(help="Inpainting mask: white = repaint.")] = None,
    strength: Annotated[float | None, typer.Option(help="How much to change the image.")] = None,
    outpaint: Annotated[
        str | None, typer.Option(help="Pixels to add: LEFT,RIGHT,TOP,BOTTOM (multiples of 8).")
    ] = None,
    num_frames: Annotated[int | None, typer.Option(help="Video frames.")] = None,
    fps: Annotated[int | None, typer.Option(help="Video frames per second.")] = None,
    device: Annotated[str, typer.Option(help="auto, cuda, cpu or mps.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float16, bfloat16 or float32.")] = "auto",
    scheduler: Annotated[
        str, typer.Option(help="dpm++, euler, euler-a, ddim, pndm or model-default.")
    ] = "dpm++",
) -> None:
    """Run one generation locally, with a progress bar, and write it to --out."""
    from pydantic import ValidationError

    from scoring.errors import ScoringError
    from scoring.schema import OutputFormat, parse_request
    from scoring.settings import EngineSettings

    request: dict = {
        "prompt": prompt,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
    }
    optional = {
        "task": task.value if task else None,
        "negative_prompt": negative_prompt,
        "width": width,
        "height": height,
        "seed": seed,
        "image": read_b64(image, "--image"),
        "mask": read_b64(mask, "--mask"),
        "strength": strength,
        "num_frames": num_frames,
        "fps": fps,
        "outpaint": parse_outpaint(outpaint),
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    try:
        request["output_format"] = OutputFormat.from_suffix(out_file.suffix).value
        parse_request(request)  # fail on bad values before paying for the model load
        settings = EngineSettings(
            model_dir=model_dir, device=device, dtype=dtype, scheduler=scheduler
        )
    except ScoringError as exc:
        fail(as_options(exc.message).replace("unknown output extension", "--out: extension"))
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"--{e['loc'][0]}: {e['msg']} (got {e.get('input')!r})")
    if not model_dir.is_dir():
        fail(f"--model-dir: {model_dir} is not a folder")
    _run_generation(settings, request, out_file)


def parse_outpaint(value: str | None) -> dict | None:
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        fail(f"--outpaint: expected LEFT,RIGHT,TOP,BOTTOM as four whole numbers (got {value!r})")
    return dict(zip(("left", "right", "top", "bottom"), (int(p) for p in parts), strict=True))


def _run_generation(settings, request: dict, out_file: Path) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from scoring.engine import Engine
    from scoring.envelopes import Envelope
    from scoring.errors import ScoringError
    from scoring.service import Parsed, Scorer

    try:
        with err.status(f"loading model from {settings.model_dir}"):
            engine = Engine(settings)
        scorer = Scorer(engine)
        job = scorer.validate(request)
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps"),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            t = bar.add_task(job.req.task.value, total=None)
            results = scorer.execute(
                Parsed(Envelope.PLAIN, [job]),
                progress=lambda i, n: bar.update(t, completed=i, total=n),
            )
        blobs, meta = scorer.encode(results[0], job.req.output_format)
    except ScoringError as exc:
        fail(as_options(exc.message))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(f".{out_file.name}.partial")
    tmp.write_bytes(blobs[0])
    os.replace(tmp, out_file)
    t = meta["timings_ms"]
    out.print(
        f"wrote {out_file} ({meta['width']}x{meta['height']}, {meta['task']}, "
        f"seed {meta['seeds'][0]}; load {engine.load_s:.2f} s, inference "
        f"{t['inference'] / 1000:.2f} s, encode {t['encode'] / 1000:.2f} s)",
        highlight=False,
    )
