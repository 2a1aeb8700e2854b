"""``genai-endpoints upload``: put a built package in a bucket, content-addressed.

``pulumi up`` uploads the weights itself (each cloud's weights step, through
:func:`model_packages.upload.upload_files`); this command seeds a bucket ahead of time or
from CI, to the same ``models/<digest>/`` keys, so the next ``pulumi up`` skips every object.
Registered in ``cli.py``. The uploader and the cloud
SDKs are imported inside the command, so ``--help`` stays fast. The library reports
progress (``model_packages.upload.UploadProgress``); the bar that shows it is drawn here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from genai_endpoints.commands.consoles import fail, out
from genai_endpoints.commands.signals import stops_cleanly


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@stops_cleanly("interrupted; no partial object was left behind")
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
            help="s3://BUCKET\\[/PREFIX], gs://BUCKET\\[/PREFIX], "
            "az://ACCOUNT/CONTAINER\\[/PREFIX] (AZURE_STORAGE_CONNECTION_STRING honoured), https://ACCOUNT.blob.SUFFIX/CONTAINER"
            "\\[/PREFIX], or an Azure ML datastore URI "
            "(azureml://subscriptions/.../datastores/NAME/paths/PREFIX) as the stack output "
            "azure.datastore_uri gives it.",
        ),
    ],
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Read back each object that would be skipped and re-hash its bytes "
            "(streamed), replacing any that differ. Default: trust its size and sha256 "
            "metadata (fast).",
        ),
    ] = False,
) -> None:
    """Upload a package to a bucket ahead of `pulumi up` (which uploads it itself), skipping
    objects already there.

    The model folder (weights and their file list) goes to PREFIX/models/<digest>/, the
    manifest last to PREFIX/manifests/<cloud>/. Each file is checked against the manifest's
    sha256 while it is read. Credentials come from the cloud SDK's default chain.
    """
    from model_packages.upload import UploadError, parse_destination, upload_package

    try:
        destination = parse_destination(to)
        with _ProgressBar() as bar:
            report = upload_package(package, destination, progress=bar, verify=verify)
    except UploadError as exc:
        fail(exc.message)

    for key in report.replaced:
        out.print(f"replaced {key} (its size, sha256 or bytes differed)", highlight=False)
    out.print(
        f"uploaded {report.uploaded_files} files / {_mb(report.uploaded_bytes)}, "
        f"skipped {report.skipped_files} files / {_mb(report.skipped_bytes)} already there",
        highlight=False,
    )
    if verify:
        out.print(
            f"verified {report.verified_files} files / {_mb(report.verified_bytes)} by their "
            f"bytes, replaced {len(report.replaced)}",
            highlight=False,
        )
    out.print(f"weights URI: {report.weights_uri}", highlight=False, soft_wrap=True)
    out.print(f"manifest:    {report.manifest_uri}", highlight=False, soft_wrap=True)


class _ProgressBar:
    """The upload's :class:`~model_packages.upload.UploadProgress` for a person: one rich bar
    over the upload's bytes on stderr, started when the upload begins (after its plan is
    checked) and only on a terminal (a bar in a log file is only noise). ``sent`` is
    thread-safe (the SDKs report from their worker threads)."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def begin(self, files: int, total_bytes: int) -> None:
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,  # the summary replaces it; an error stays one line
        )
        self._progress.__enter__()
        self._task = self._progress.add_task("upload", total=total_bytes)

    def file(self, key: str, size: int) -> None:
        self._describe(key)

    def sent(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def synced(self, key: str, status: str, size: int) -> None:
        self._done += size
        if self._progress is not None:  # absorb SDK progress that over- or under-counted
            self._progress.update(self._task, completed=self._done)

    def end(self) -> None:
        self._describe("done")

    def _describe(self, text: str) -> None:
        if self._progress is not None:
            name = text if len(text) <= 40 else "…" + text[-39:]
            self._progress.update(self._task, description=name)
