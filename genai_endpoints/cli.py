"""The ``genai-endpoints`` command: thin wrappers over the project's packages.

Heavy modules (torch, diffusers, cloud SDKs) are imported inside the commands that need
them, so ``--help`` and the cloud commands start fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from genai_endpoints import options as opts
from genai_endpoints.consoles import err
from genai_endpoints.consoles import out as console

app = typer.Typer(
    help="Generative image and video models on GPU endpoints on SageMaker, Vertex AI and Azure ML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Not on a terminal (a pipe, CI), help is laid out for a wide page so nothing is cut
_TTY = os.isatty(1)


def _configure_help() -> None:
    """typer labels every flag ``<bool>`` although a flag takes no value; show none. Off a
    terminal, lay help out 120 columns wide so no option's help is cut."""
    from typer import rich_utils
    from typer.core import TyperOption

    labelled = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else labelled(self, ctx)

    TyperOption.display_type_rich = display_type_rich
    if not _TTY and rich_utils.MAX_WIDTH is None and not os.environ.get("COLUMNS"):
        rich_utils.MAX_WIDTH = 120


def _version(value: bool) -> None:
    if value:
        from scoring import __version__

        console.print(f"genai-endpoints {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Generative image and video models on GPU endpoints on SageMaker, Vertex AI and Azure ML:
    package a model, serve it locally under each cloud's contract, deploy it with one
    `pulumi up`, and call, compare and choose between endpoints."""


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


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: no traceback for a user's mistake."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the scoring engine's version."""
    from scoring import __version__

    console.print(__version__)


@app.command("tiny-model")
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
    console.print(f"wrote {what} to {out_dir} ({size / 1e6:.1f} MB)")


@app.command()
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
    console.print(
        f"wrote {out_file}{also} ({meta['width']}x{meta['height']}, {meta['task']}, "
        f"seed {meta['seeds'][0]}; load {engine.load_s:.2f} s, inference "
        f"{t['inference'] / 1000:.2f} s, encode {t['encode'] / 1000:.2f} s)",
        highlight=False,
    )


class CloudChoice(StrEnum):
    SAGEMAKER = "sagemaker"
    VERTEX = "vertex"
    AZUREML = "azureml"
    ALL = "all"


@app.command()
def package(
    out: Annotated[Path, typer.Option(help="Folder to write OUT/<cloud>/ packages into.")],
    model_dir: Annotated[Path | None, typer.Option(help="A local diffusers folder.")] = None,
    model_id: Annotated[str | None, typer.Option(help="Hugging Face Hub id, ORG/NAME.")] = None,
    revision: Annotated[
        str | None, typer.Option(help="Hub commit sha (required with --model-id).")
    ] = None,
    cloud: Annotated[CloudChoice, typer.Option(help="Which cloud's package to build.")] = (
        CloudChoice.ALL
    ),
    variant: Annotated[
        str | None,
        typer.Option(
            help="Weight variant to ship, e.g. fp16 (*.fp16.safetensors). Default: the plain "
            "weights, or the only variant a model has."
        ),
    ] = None,
    tarball: Annotated[
        bool, typer.Option(help="Also write SageMaker's model.tar.gz (normally not needed).")
    ] = False,
    lora: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=PATH",
            help="Ship a LoRA adapter (.safetensors file, or a folder with one) that requests "
            'select by name: "loras": [{"name": NAME, "scale": 0.8}]. Repeatable.',
        ),
    ] = None,
    safety_checker: Annotated[
        Path | None,
        typer.Option(
            help="Ship a StableDiffusionSafetyChecker (a folder with config.json, "
            "model.safetensors, preprocessor_config.json, or an SD 1.x model folder) for "
            "GENAI_SAFETY=flag|blur|withhold."
        ),
    ] = None,
    deny_terms: Annotated[
        Path | None,
        typer.Option(
            help="Ship a prompt deny list: a text file, one term or phrase per line "
            "(# comments); a prompt containing one is refused with a 400."
        ),
    ] = None,
    compile_cache: Annotated[
        Path | None,
        typer.Option(
            help="Ship torch.compile caches (the *.bin files a GPU replica wrote to "
            "GENAI_COMPILE_CACHE_DIR after warm-up), so new replicas start compiled "
            "(docs/performance.md)."
        ),
    ] = None,
) -> None:
    """Stage a model once and build a byte-deterministic serving package per cloud.

    Weights are hashed while read, hard-linked into each package when the file system
    allows (copied once otherwise), never compressed. A package holds one copy of each
    weight: the plain files, the --variant ones, or the only variant a model has (from the
    Hub only those are downloaded). LoRA adapters, a safety checker and a deny list ship
    beside the weights (docs/customising.md). Each package has a manifest.json.
    """
    from model_packages.build import CLOUDS, build_packages
    from model_packages.extras import with_extras
    from model_packages.staging import StagingError, stage_hub, stage_local

    if (model_dir is None) == (model_id is None):
        fail("give exactly one of --model-dir or --model-id")
    if model_id is not None and revision is None:
        fail("--revision: required with --model-id (a commit sha, so the package is pinned)")
    clouds = list(CLOUDS) if cloud is CloudChoice.ALL else [cloud.value]
    try:
        with err.status("hashing and staging the model"):
            if model_dir is not None:
                staged = stage_local(model_dir, variant=variant)
            else:
                staged = stage_hub(model_id, revision, variant=variant)
            staged = with_extras(staged, lora, safety_checker, deny_terms, compile_cache)
        with err.status(f"building {', '.join(clouds)}"):
            manifests = build_packages(staged, clouds, out, tarball=tarball)
    except StagingError as exc:
        fail(str(exc))
    weights = f"{staged.variant} weights" if staged.variant else "plain weights"
    skipped = (
        f"; left out {len(staged.left_out)} weight files it does not load"
        if staged.left_out
        else ""
    )
    console.print(f"{staged.family} model, {weights}{skipped}", highlight=False)
    shipped = [f"LoRA {', '.join(staged.loras)}"] if staged.loras else []
    shipped += ["safety checker"] if staged.safety_checker else []
    shipped += [f"{staged.deny_terms} deny terms"] if staged.deny_terms else []
    if shipped:
        console.print(f"with {'; '.join(shipped)}", highlight=False)
    for name, manifest in manifests.items():
        console.print(
            f"{name:9} {out / name}  weights {manifest.weights.key_prefix}  "
            f"({manifest.model.size_bytes / 1e6:.1f} MB)",
            highlight=False,
        )


class ServeCloud(StrEnum):
    SAGEMAKER = "sagemaker"
    VERTEX = "vertex"
    AZUREML = "azureml"


@app.command()
def serve(
    cloud: Annotated[ServeCloud, typer.Option(help="Whose contract to speak.")],
    package_dir: Annotated[Path, typer.Option("--package", help="A built OUT/<cloud> folder.")],
    port: Annotated[
        int | None, typer.Option(help="Default: the cloud's own (8080; Azure ML 5001).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 to be reachable.")] = (
        "127.0.0.1"
    ),
    storage_uri: Annotated[
        str | None,
        typer.Option(help="Vertex only: fetch the weights from this gs:// prefix, as on Vertex."),
    ] = None,
) -> None:
    """Serve a package with the runtime image's own server, under one cloud's contract.

    The server is the one the runtime image runs (python -m scoring.server), started with
    the environment that cloud gives the container. It answers health at once and 503
    "loading" until the model is loaded and its weights verified.
    """
    import json

    from genai_endpoints.local_serve import server_command

    manifest_path = package_dir / "manifest.json"
    if not manifest_path.is_file():
        fail(f"--package: {package_dir} has no manifest.json; build it with `package`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--package: {manifest_path} is not readable JSON ({exc})")
    if manifest.get("schema_version") != 2 or "runtime" not in manifest:
        fail(f"--package: {package_dir} was built by an older version; run `package` again")
    if manifest.get("cloud") != cloud.value:
        fail(f"--cloud {cloud.value}: {package_dir} is a {manifest.get('cloud')} package")
    if storage_uri is not None and cloud is not ServeCloud.VERTEX:
        fail("--storage-uri: only the Vertex contract fetches its weights (AIP_STORAGE_URI)")
    if storage_uri is not None and not storage_uri.startswith("gs://"):
        fail(f"--storage-uri: expected gs://BUCKET/PREFIX (got {storage_uri!r})")
    port = port or manifest["runtime"]["port"]
    cmd, env = server_command(cloud.value, package_dir, port, host, storage_uri)
    os.execve(cmd[0], cmd, env)


@app.command()
def rehearse(
    model_dir: Annotated[
        Path | None, typer.Option(help="A diffusers folder; default: build the tiny model.")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where packages and outputs go.")] = Path(
        "build/rehearsal"
    ),
    prompt: Annotated[str, typer.Option(help="The one request sent to every cloud.")] = (
        "a lighthouse at dusk"
    ),
    steps: Annotated[int, typer.Option(help="Denoising steps.")] = 4,
) -> None:
    """The offline main job: package for all three clouds, serve each under its contract,
    send the same request to each, save the outputs and compare them."""
    from genai_endpoints.rehearsal import run_rehearsal

    raise typer.Exit(run_rehearsal(model_dir, out_dir, prompt, steps, console, err))


def _register_cloud_commands() -> None:
    """Commands that live in their own modules (heavy imports stay inside them)."""
    from genai_endpoints import client_cmd
    from genai_endpoints.image_cmd import app as image_app
    from genai_endpoints.synth_cmd import synth
    from genai_endpoints.upload_cmd import upload

    app.command("synth")(synth)
    app.command("upload")(upload)
    app.command("invoke")(client_cmd.invoke)
    app.command("compare")(client_cmd.compare)
    app.command("select")(client_cmd.select)
    app.add_typer(image_app, name="image")


def _tidy_help() -> None:
    """Typer keeps a docstring's line breaks after its first paragraph; rejoin each
    paragraph so help text wraps to the terminal instead of the source's line length."""
    import inspect

    for info in app.registered_commands:
        doc = inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))


_register_cloud_commands()
_tidy_help()
_configure_help()
