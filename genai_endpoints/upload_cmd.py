"""``genai-endpoints upload``: put a built package in a bucket, content-addressed.

``pulumi up`` uploads the weights itself (each cloud's weights step, through
:func:`model_packages.upload.upload_files`); this command seeds a bucket ahead of time or
from CI, to the same ``models/<digest>/`` keys, so the next ``pulumi up`` skips every object.
Registered in ``cli.py`` with ``app.command("upload")(upload)``. The uploader and the cloud
SDKs are imported inside the command, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from genai_endpoints.consoles import err, out


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: no traceback for a user's mistake."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    raise typer.Exit(code)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def upload(
    package: Annotated[
        Path,
        typer.Option(
            "--package",
            help="A built package folder (OUT/<cloud>) holding manifest.json.",
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="s3://BUCKET\\[/PREFIX], gs://BUCKET\\[/PREFIX], or an Azure ML datastore URI "
            "(azureml://subscriptions/.../datastores/NAME/paths/PREFIX) as the stack output "
            "azure.datastore_uri gives it.",
        ),
    ],
) -> None:
    """Upload a package to a bucket ahead of `pulumi up` (which uploads it itself), skipping
    objects already there.

    The model folder (weights and their file list) goes to PREFIX/models/<digest>/, the
    manifest last to PREFIX/manifests/<cloud>/. Each file is checked against the manifest's
    sha256 while it is read. Credentials come from the cloud SDK's default chain.
    """
    from rich.markup import escape

    from model_packages.upload import UploadError, parse_destination, upload_package

    try:
        destination = parse_destination(to)
        report = upload_package(package, destination, progress=True)
    except UploadError as exc:
        _fail(escape(exc.message))
    except KeyboardInterrupt:
        _fail("interrupted; no partial object was left behind", code=130)

    for key in report.replaced:
        out.print(f"replaced {key} (its size or sha256 differed)", highlight=False)
    out.print(
        f"uploaded {report.uploaded_files} files / {_mb(report.uploaded_bytes)}, "
        f"skipped {report.skipped_files} files / {_mb(report.skipped_bytes)} already there",
        highlight=False,
    )
    out.print(f"weights URI: {report.weights_uri}", highlight=False, soft_wrap=True)
    out.print(f"manifest:    {report.manifest_uri}", highlight=False, soft_wrap=True)
