"""``genai-endpoints serve`` and ``rehearse``: packages served on this machine under each
cloud's contract, by the runtime image's own server."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from genai_endpoints.commands.consoles import err, fail, out
from genai_endpoints.commands.signals import stops_cleanly


class ServeCloud(StrEnum):
    SAGEMAKER = "sagemaker"
    VERTEX = "vertex"
    AZUREML = "azureml"


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

    from genai_endpoints.commands.local_serve import server_command

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


@stops_cleanly()
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
    from genai_endpoints.commands.rehearsal import run_rehearsal

    raise typer.Exit(run_rehearsal(model_dir, out_dir, prompt, steps, out, err))
