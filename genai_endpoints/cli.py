"""The ``genai-endpoints`` command: the commands of ``genai_endpoints.commands``, assembled.

Heavy modules (torch, diffusers, cloud SDKs) are imported inside the commands that need
them, so ``--help`` and the cloud commands start fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from genai_endpoints.commands import client, generate, package, serve, synth, tiny_model
from genai_endpoints.commands.help import configure_help, tidy_help
from genai_endpoints.commands.image import app as image_app
from genai_endpoints.commands.upload import upload
from genai_endpoints.commands.version import show_version, version_flag

app = typer.Typer(
    help="Generative image and video models on GPU endpoints on SageMaker, Vertex AI and Azure ML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_flag, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Generative image and video models on GPU endpoints on SageMaker, Vertex AI and Azure ML:
    package a model, serve it locally under each cloud's contract, deploy it with one
    `pulumi up`, and call, compare and choose between endpoints."""


app.command("version")(show_version)
app.command("tiny-model")(tiny_model.tiny_model)
app.command("generate")(generate.generate)
app.command("package")(package.package)
app.command("serve")(serve.serve)
app.command("rehearse")(serve.rehearse)
app.command("synth")(synth.synth)
app.command("upload")(upload)
app.command("invoke")(client.invoke)
app.command("compare")(client.compare)
app.command("select")(client.select)
app.add_typer(image_app, name="image")
tidy_help(app)
configure_help()
