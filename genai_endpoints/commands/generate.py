"""``genai-endpoints generate``: one generation on a local model folder, with a progress
bar, written to a file. The request goes through the scorer's own stages (parse, run,
encode), so a request ``generate`` accepts is one the server accepts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from genai_endpoints.commands import options as opts
from genai_endpoints.commands.consoles import err, fail, out


def generate(
    model_dir: Annotated[Path, typer.Option(help="A diffusers model folder.")],
    prompt: Annotated[str, typer.Option(help="What to generate.")],
    out_file: opts.OutOpt,
    task: opts.TaskOpt = None,
    negative_prompt: opts.NegativeOpt = None,
    width: opts.WidthOpt = None,
    height: opts.HeightOpt = None,
    steps: opts.StepsOpt = 30,
    guidance: opts.GuidanceOpt = 7.5,
    seed: opts.SeedOpt = None,
    num_outputs: opts.NumOutputsOpt = None,
    image: opts.ImageOpt = None,
    mask: opts.MaskOpt = None,
    strength: opts.StrengthOpt = None,
    outpaint: opts.OutpaintOpt = None,
    num_frames: opts.FramesOpt = None,
    fps: opts.FpsOpt = None,
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

    request = opts.request_from(
        prompt, task=task, negative_prompt=negative_prompt, width=width, height=height,
        steps=steps, guidance=guidance, seed=seed, num_outputs=num_outputs, image=image,
        mask=mask, strength=strength, outpaint=outpaint, num_frames=num_frames, fps=fps,
    )  # fmt: skip
    try:
        request["output_format"] = OutputFormat.from_suffix(out_file.suffix).value
        parse_request(request)  # fail on bad values before paying for the model load
        settings = EngineSettings(
            model_dir=model_dir, device=device, dtype=dtype, scheduler=scheduler
        )
    except ScoringError as exc:
        fail(opts.as_options(exc.message).replace("unknown output extension", "--out: extension"))
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"--{e['loc'][0]}: {e['msg']} (got {e.get('input')!r})")
    if not model_dir.is_dir():
        fail(f"--model-dir: {model_dir} is not a folder")
    _run_generation(settings, request, out_file)


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
            disable=not err.is_terminal,  # a bar in a log is noise; the summary line says it
        ) as bar:
            t = bar.add_task(job.req.task.value, total=None)
            results = scorer.execute(
                Parsed(Envelope.PLAIN, [job]),
                progress=lambda i, n: bar.update(t, completed=i, total=n),
            )
        blobs, meta = scorer.encode(results[0], job.req.output_format)
    except ScoringError as exc:
        fail(opts.as_options(exc.message))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    paths = opts.output_paths(out_file, len(blobs))
    for path, blob in zip(paths, blobs, strict=True):
        tmp = path.with_name(f".{path.name}.partial")  # a failure leaves no half file
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    t = meta["timings_ms"]
    also = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    out.print(
        f"wrote {out_file}{also} ({meta['width']}x{meta['height']}, {meta['task']}, "
        f"seed {meta['seeds'][0]}; load {engine.load_s:.2f} s, inference "
        f"{t['inference'] / 1000:.2f} s, encode {t['encode'] / 1000:.2f} s)",
        highlight=False,
    )
