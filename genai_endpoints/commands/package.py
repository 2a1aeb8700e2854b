"""``genai-endpoints package``: stage a model once, build a serving package per cloud."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from genai_endpoints.commands.consoles import err, fail
from genai_endpoints.commands.consoles import out as stdout  # `out` is the --out option
from genai_endpoints.commands.signals import stops_cleanly


class CloudChoice(StrEnum):
    SAGEMAKER = "sagemaker"
    VERTEX = "vertex"
    AZUREML = "azureml"
    ALL = "all"


@stops_cleanly()
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
    stdout.print(f"{staged.family} model, {weights}{skipped}", highlight=False)
    shipped = [f"LoRA {', '.join(staged.loras)}"] if staged.loras else []
    shipped += ["safety checker"] if staged.safety_checker else []
    shipped += [f"{staged.deny_terms} deny terms"] if staged.deny_terms else []
    if shipped:
        stdout.print(f"with {'; '.join(shipped)}", highlight=False)
    for name, manifest in manifests.items():
        stdout.print(
            f"{name:9} {out / name}  weights {manifest.weights.key_prefix}  "
            f"({manifest.model.size_bytes / 1e6:.1f} MB)",
            highlight=False,
        )
