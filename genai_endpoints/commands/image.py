"""``genai-endpoints image``: build the runtime image outside Pulumi, for teams that build
in their own CI and give the stack a digest-pinned reference instead."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from genai_endpoints.commands.consoles import fail, out
from genai_endpoints.commands.signals import stops_cleanly

app = typer.Typer(
    help="Build the one runtime image (runtime/Dockerfile) outside Pulumi.",
    no_args_is_help=True,
)
ROOT = Path(__file__).resolve().parents[2]


def build_command(builder: str, tag: str, platform: str, push: bool) -> list[str]:
    """The docker/podman command line that builds (and optionally pushes) the image."""
    if builder == "docker":
        cmd = ["docker", "buildx", "build", "--platform", platform, "-f", "runtime/Dockerfile",
               "-t", tag, "--provenance=false"]  # fmt: skip
        cmd += ["--push"] if push else ["--load"]
        if push:
            cmd += ["--metadata-file", "build/runtime-image.json"]
        return [*cmd, "."]
    cmd = ["podman", "build", "--platform", platform, "-f", "runtime/Dockerfile", "-t", tag, "."]
    return cmd


@app.command("build")
@stops_cleanly()
def build(
    tag: Annotated[
        str,
        typer.Option(help="Image reference to tag (and push), e.g. REGISTRY/genai-runtime:0.2.0."),
    ] = "genai-runtime:local",
    push: Annotated[bool, typer.Option("--push", help="Push to the tag's registry.")] = False,
    builder: Annotated[str, typer.Option(help="docker (buildx) or podman.")] = "docker",
    platform: Annotated[str, typer.Option(help="Target platform.")] = "linux/amd64",
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the command instead of running it.")
    ] = False,
) -> None:
    """Build the runtime image from the project root, as `pulumi up` would.

    With --push, prints the digest-pinned reference (REPO@sha256:...) to give the stack as
    genai-endpoints:runtime.image, so `pulumi up` builds nothing.
    """
    if builder not in ("docker", "podman"):
        fail(f"--builder: {builder!r} is not known; allowed: docker, podman")
    cmd = build_command(builder, tag, platform, push)
    if print_only:
        out.print(" ".join(cmd), highlight=False, soft_wrap=True)
        return
    if shutil.which(cmd[0]) is None:
        fail(f"--builder {builder}: `{cmd[0]}` is not on PATH; install it or use --print")
    (ROOT / "build").mkdir(exist_ok=True)
    if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
        fail("the image build failed; its output is above")
    if push and builder == "podman":
        pushed = subprocess.run(["podman", "push", "--digestfile", "build/runtime-image.digest",
                                 tag], cwd=ROOT, check=False)  # fmt: skip
        if pushed.returncode != 0:
            fail("the push failed; its output is above")
        digest = (ROOT / "build" / "runtime-image.digest").read_text().strip()
    elif push:
        meta = json.loads((ROOT / "build" / "runtime-image.json").read_text())
        digest = meta["containerimage.digest"]
    else:
        out.print(f"built {tag} (not pushed: nothing to pin yet)", highlight=False)
        return
    repo = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
    out.print(f"{repo}@{digest}", highlight=False, soft_wrap=True)
