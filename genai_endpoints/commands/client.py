"""``genai-endpoints invoke | compare | select``: the client's commands.

Registered in ``genai_endpoints/cli.py``. The client and every cloud SDK are
imported inside the commands, so ``--help`` stays fast. Progress goes to stderr (rich);
``--json`` prints one JSON document on stdout; a failure is one line and a non-zero exit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from genai_endpoints.commands import options as opts
from genai_endpoints.commands.consoles import err, fail, out
from genai_endpoints.commands.signals import stops_cleanly


class PriorityChoice(StrEnum):
    COST = "cost"
    SPEED = "speed"
    QUALITY = "quality"
    BALANCED = "balanced"


def _unexpected(exc: Exception) -> str:
    from genai_endpoints.client.errors import redact

    text = " ".join(str(exc).split())
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


TargetsOpt = Annotated[
    Path, typer.Option("--targets", "-t", help="The targets file (YAML).", show_default=False)
]
CacheOpt = Annotated[
    str | None,
    typer.Option(
        "--cache",
        help="Cache location: a folder, s3://, gs:// or azureml://. Default: the targets file's "
        "cache:, $GENAI_CLIENT_CACHE, or the user cache folder.",
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
HistoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--history",
        help="SQLite file of measured calls. Default: the targets file's history:, "
        "$GENAI_CLIENT_HISTORY, or the user state folder.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@contextmanager
def _one_line_failures() -> Iterator[None]:
    """A client's or an SDK's failure as one line and exit 1, never with a credential."""
    from genai_endpoints.client import ClientError

    try:
        yield
    except ClientError as exc:
        fail(exc.message, 1)
    except Exception as exc:  # an SDK's own failure: still one line, never a credential
        fail(_unexpected(exc), 1)


def _client(targets: Path, cache: str | None, no_cache: bool, history: Path | None):
    from genai_endpoints.client import Client

    return Client.from_file(targets, cache=False if no_cache else cache, history=history)


def _check(request: dict) -> None:
    from scoring.errors import ScoringError
    from scoring.schema import parse_request

    try:
        parse_request(request)
    except ScoringError as exc:
        fail(opts.as_options(exc.message))


def _output_format(path: Path) -> str:
    from scoring.errors import ScoringError
    from scoring.schema import OutputFormat

    try:
        return OutputFormat.from_suffix(path.suffix).value
    except ScoringError as exc:
        fail(exc.message.replace("unknown output extension", "--out: extension"))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@stops_cleanly()
def invoke(
    targets: TargetsOpt,
    prompt: Annotated[str, typer.Option(help="What to generate.", show_default=False)],
    out_file: Annotated[
        Path, typer.Option("--out", help="Output file; its extension picks the format.")
    ],
    target: Annotated[
        str | None,
        typer.Option(help="Target name. Default: chosen by --priority, with fallback."),
    ] = None,
    priority: Annotated[
        PriorityChoice, typer.Option(help="How to choose when --target is not given.")
    ] = PriorityChoice.BALANCED,
    task: opts.TaskOpt = None,
    negative_prompt: opts.NegativeOpt = None,
    width: opts.WidthOpt = None,
    height: opts.HeightOpt = None,
    steps: opts.StepsOpt = None,
    guidance: opts.GuidanceOpt = None,
    seed: opts.SeedOpt = None,
    num_outputs: opts.NumOutputsOpt = None,
    image: opts.ImageOpt = None,
    mask: opts.MaskOpt = None,
    strength: opts.StrengthOpt = None,
    outpaint: opts.OutpaintOpt = None,
    num_frames: opts.FramesOpt = None,
    fps: opts.FpsOpt = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    history: HistoryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Send one request (the same options as generate) to a target and write the output.

    Without --target the selector picks by --priority and falls back to the next target on
    429, 5xx or a timeout. Seeded requests are cached; --json prints the target, latency,
    cache hit or miss, seed and output paths.
    """
    request = opts.request_from(
        prompt, task=task, negative_prompt=negative_prompt, width=width, height=height,
        steps=steps, guidance=guidance, seed=seed, num_outputs=num_outputs, image=image,
        mask=mask, strength=strength, outpaint=outpaint, num_frames=num_frames, fps=fps,
        output_format=_output_format(out_file),
    )  # fmt: skip
    _check(request)
    with (
        _one_line_failures(),
        _client(targets, cache, no_cache, history) as client,
        err.status(f"calling {target or f'the best target by {priority.value}'}") as st,
    ):
        result = client.generate(
            request,
            target=target,
            priority=priority.value,
            progress=lambda msg: st.update(escape(msg)),
        )
    paths = [str(p) for p in opts.output_paths(out_file, len(result.outputs))]
    for path, output in zip(paths, result.outputs, strict=True):
        _write(Path(path), output.data)
    _print_invoked(result, paths, json_out)


def _print_invoked(result, paths: list[str], json_out: bool) -> None:
    """What invoke did: the target, latency, cache, seed and files (one JSON document with
    --json, else one line; fallbacks on stderr)."""
    summary = {
        "target": result.target,
        "kind": result.kind,
        "latency_s": round(result.latency_s, 4),
        "cache": result.cache,
        "cache_note": result.cache_note,
        "seed": result.seed,
        "outputs": paths,
        "model_id": result.model_id,
        "model_revision": result.model_revision,
        "cost_usd": result.cost_usd,
        "attempts": result.attempts,
        "fallbacks": result.fallbacks,
    }
    if json_out:
        out.print_json(json.dumps(summary))
        return
    cost = f", ≈${result.cost_usd:.5f}" if result.cost_usd else ""
    note = (
        f" ({result.cache_note})"
        if result.cache == "hit"
        or (result.cache == "off" and result.cache_note not in ("", "cache off"))
        else ""
    )
    out.print(
        f"wrote {', '.join(paths)} from {result.target} ({result.kind}): "
        f"{result.latency_s:.2f} s, cache {result.cache}{note}, seed {result.seed}{cost}",
        highlight=False,
        markup=False,
    )
    for fb in result.fallbacks:
        err.print(f"skipped {escape(fb)}", highlight=False)


def _read_prompts(prompts_file: Path) -> list[str]:
    try:
        lines = prompts_file.read_text().splitlines()
    except OSError as exc:
        fail(f"--prompts: cannot read {prompts_file}: {exc.strerror}")
    prompts = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not prompts:
        fail(f"--prompts: {prompts_file} has no prompts (one per line; # starts a comment)")
    return prompts


@stops_cleanly()
def compare(
    targets: TargetsOpt,
    seed: Annotated[int, typer.Option(help="One seed for every request.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Report folder (created).")],
    prompt: Annotated[
        list[str] | None, typer.Option(help="A prompt; repeat for several.", show_default=False)
    ] = None,
    prompts_file: Annotated[
        Path | None, typer.Option("--prompts", help="A file with one prompt per line.")
    ] = None,
    target: Annotated[
        list[str] | None, typer.Option(help="Only these targets (repeat). Default: all.")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, max=50, help="Calls per prompt and target.")] = 1,
    negative_prompt: Annotated[str | None, typer.Option()] = None,
    width: Annotated[int | None, typer.Option(help="Pixels, multiple of 8.")] = None,
    height: Annotated[int | None, typer.Option(help="Pixels, multiple of 8.")] = None,
    steps: Annotated[int | None, typer.Option(help="Denoising steps (server default 30).")] = None,
    guidance: Annotated[float | None, typer.Option(help="Guidance scale.")] = None,
    num_frames: Annotated[int | None, typer.Option(help="Video frames.")] = None,
    fps: Annotated[int | None, typer.Option(help="Video frames per second.")] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="png, jpeg, webp (images); mp4, gif (video).")
    ] = None,
    cache: CacheOpt = None,
    no_cache: NoCacheOpt = False,
    history: HistoryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Send the same requests to every target and write DIR/report.html and DIR/report.json.

    Per prompt the outputs side by side (and whether they are byte-identical); per target
    latency p50/p95 of live calls, $/image and errors. Exits 1 if any call failed (the
    report is still written).
    """
    from genai_endpoints.client.report import write_report

    if (prompt is None) == (prompts_file is None):
        fail("give --prompt (repeatable) or --prompts FILE, not both and not neither")
    prompts = list(prompt) if prompt else _read_prompts(prompts_file)
    request = opts.request_from(
        None, negative_prompt=negative_prompt, width=width, height=height, steps=steps,
        guidance=guidance, seed=seed, num_frames=num_frames, fps=fps, output_format=output_format,
    )  # fmt: skip
    for p in prompts:
        _check({**request, "prompt": p})
    with _one_line_failures(), _client(targets, cache, no_cache, history) as client:
        names = list(target) if target else [t.name for t in client.targets.targets]
        for name in names:
            client.targets.get(name)
        result = _compare_with_progress(
            client, names, prompts, request, out_dir, repeat=repeat, use_cache=not no_cache
        )
        html_path, json_path = write_report(result, out_dir)
    if json_out:
        from genai_endpoints.client.report import as_json

        doc = {"report_html": str(html_path), "report_json": str(json_path), **as_json(result)}
        out.print_json(json.dumps(doc))
    else:
        _print_compared(result, f"compare: {len(prompts)} prompt(s), seed {seed}")
        out.print(f"wrote {html_path} and {json_path}", highlight=False)
    if any(t.errors for t in result.targets):
        raise typer.Exit(1)


def _compare_with_progress(client, names, prompts, request, out_dir, *, repeat, use_cache):
    """run_compare under a progress bar on stderr (on a terminal only)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from genai_endpoints.client.compare import run_compare

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} calls"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        job = bar.add_task("comparing", total=None)

        def progress(done: int, total: int, what: str) -> None:
            bar.update(job, completed=done, total=total, description=escape(what))

        return run_compare(
            client, names, prompts, request, out_dir,
            repeat=repeat, use_cache=use_cache, progress=progress,
        )  # fmt: skip


def _print_compared(result, title: str) -> None:
    """Per target: calls, cache hits, errors, latency and $/image; then, per prompt,
    whether the outputs were byte-identical."""
    from rich.table import Table

    table = Table(title=title, box=None, padding=(0, 1), pad_edge=False)
    for col in ("target", "kind", "calls", "cached", "errors", "p50 s", "p95 s", "$/image"):
        left = col in ("target", "kind")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    for t in result.targets:
        table.add_row(
            t.name, t.kind, str(t.calls), str(t.cached), str(t.errors),
            f"{t.p50_s:.3f}" if t.p50_s is not None else "–",
            f"{t.p95_s:.3f}" if t.p95_s is not None else "–",
            f"{t.usd_per_image:.6f}" if t.usd_per_image is not None else "–",
        )  # fmt: skip
    out.print(table)
    same = ", ".join(
        "-" if s is None else ("identical" if s else "differ") for s in result.identical
    )
    out.print(f"outputs per prompt: {same}", highlight=False)


def select(
    targets: TargetsOpt,
    priority: Annotated[
        PriorityChoice, typer.Option(help="What matters most.")
    ] = PriorityChoice.BALANCED,
    task: Annotated[opts.Task | None, typer.Option(help="Only targets that can do this.")] = None,
    history: HistoryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the target the client would choose, and why, from measured history and prices.

    cost: $/image (list price, or $/instance-hour × measured GPU seconds per image); speed:
    p50 latency of recent calls; quality: the quality_score the team declares per target;
    balanced: all three relative to the best, weighted by recent errors.
    """
    with _one_line_failures(), _client(targets, None, True, history) as client:
        ranked = client.select(priority.value, task.value if task else None)
    usable = [c for c in ranked if c.unavailable is None]
    if json_out:
        doc = {
            "priority": priority.value,
            "task": task.value if task else None,
            "chosen": usable[0].name if usable else None,
            "ranking": [
                {
                    "target": c.name,
                    "kind": c.kind,
                    "usable": c.unavailable is None,
                    "usd_per_image": c.cost_per_image,
                    "cost_basis": c.cost_basis,
                    "p50_s": c.p50,
                    "p95_s": c.stats.p95_s if c.stats else None,
                    "calls": c.stats.calls if c.stats else 0,
                    "errors": c.stats.errors if c.stats else 0,
                    "quality_score": c.quality,
                    "reason": c.reason,
                }
                for c in ranked
            ],
        }
        out.print_json(json.dumps(doc))
        if not usable:
            raise typer.Exit(1)
        return
    if not usable:
        fail("no usable target: " + "; ".join(f"{c.name}: {c.reason}" for c in ranked), 1)
    best = usable[0]
    out.print(
        f"chosen: {best.name} ({best.kind}) by {priority.value}: {best.reason}",
        markup=False,
        highlight=False,
    )
    for i, c in enumerate(ranked[1:], start=2):
        mark = f"{i}." if c.unavailable is None else "--"
        out.print(f"  {mark} {c.name} ({c.kind}): {c.reason}", markup=False, highlight=False)
