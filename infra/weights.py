"""The weights upload as a step of ``pulumi up``: a dynamic resource over model_packages.upload.

Its inputs are the manifest's file list (path, sha256, size), the weights digest, the
destination (bucket or blob container) and the key prefix — never the file contents, so
Pulumi's asset hashing never reads gigabytes and the state holds only the list. ``create``
and ``update`` call :func:`model_packages.upload.upload_files`, which skips every object
already there with the same size and sha256 (a HEAD each) and streams the rest through a
hash-checking reader; the model resources of each cloud depend on this step, so nothing
points at a prefix before it is complete. ``delete`` removes nothing: objects are
content-addressed and may serve another stack or an older model version (``forceDestroy``
empties the bucket with the stack).

The local folder and the project folder are inputs that never cause a diff: running
``pulumi up`` from another checkout re-checks the bucket only when the weights change.

Progress goes to ``pulumi.log`` (a dynamic provider has no engine connection, so the SDK
prints it on the provider's stderr, which the CLI shows; pulumi/pulumi#6065).

The provider is pickled by value (like the Vertex and Azure traffic providers); it imports
``model_packages.upload`` and the cloud SDK inside its methods, from the project's virtual
environment (the project folder is put on ``sys.path`` if the package is not installed).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from infra.dynamic import ProviderBase, pickle_by_value

DIFF_KEYS = ("store", "key_prefix", "digest", "files")


class WeightsUploadProvider(ProviderBase, ResourceProvider):
    """Uploads one weights folder, content-addressed (see the module docstring)."""

    serialize_as_secret_always = False  # nothing secret is captured

    def __init__(self, store_factory: Any = None, retry_s: float = 300.0, poll_s: float = 15.0):
        super().__init__()
        self.store_factory = store_factory  # tests pass a fake; None: the cloud SDK's store
        self.retry_s = retry_s  # role assignments take minutes to reach the data plane
        self.poll_s = poll_s

    # ------------------------------------------------------------------ check / diff
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        for key in ("store", "key_prefix", "digest", "files", "folder"):
            if news.get(key) in (None, "", [], {}):
                failures.append(CheckFailure(key, f"{key} is required"))
        prefix, digest = news.get("key_prefix"), news.get("digest")
        if isinstance(prefix, str) and isinstance(digest, str) and prefix != f"models/{digest}/":
            failures.append(CheckFailure("key_prefix", "must be models/<digest>/"))
        for key in self._secret_keys(news):
            failures.append(CheckFailure(key, "credentials never go into inputs or state"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in DIFF_KEYS if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    # ------------------------------------------------------------------ lifecycle
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._upload(props)
        return CreateResult(id_=outs["uri"], outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._upload(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # content-addressed objects stay (see the module docstring)

    # ------------------------------------------------------------------ the work
    def _store(self, spec: dict[str, Any]) -> Any:
        from model_packages.upload.stores import AzureBlobStore, GCSStore, S3Store

        kind = spec["kind"]
        if kind == "s3":
            import boto3

            return S3Store(
                spec["bucket"], client=boto3.client("s3", region_name=spec.get("region"))
            )
        if kind == "gs":
            from google.cloud import storage

            return GCSStore(spec["bucket"], client=storage.Client(project=spec.get("project")))
        if kind == "azureblob":
            from azure.identity import DefaultAzureCredential

            return AzureBlobStore.from_url(
                spec["account_url"], spec["container"], credential=DefaultAzureCredential()
            )
        raise RuntimeError(f"unknown store kind {kind!r}")

    def _upload(self, props: dict[str, Any]) -> dict[str, Any]:
        import importlib.util
        import sys
        import time

        project_dir = props.get("project_dir")
        if project_dir and importlib.util.find_spec("model_packages") is None:
            sys.path.insert(0, str(project_dir))
        from model_packages.upload import StoreError, UploadError, upload_files

        files = [(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in props["files"]]
        total = sum(size for _, _, size in files) or 1
        uri = str(props.get("uri") or props["key_prefix"])
        progress = _LoggedProgress(total)

        store = (self.store_factory or self._store)(props["store"])
        deadline = time.monotonic() + self.retry_s
        pulumi.log.info(f"weights: {len(files)} files, {total / 1e9:.2f} GB to {uri}")
        while True:
            try:
                report = upload_files(
                    props["folder"],
                    files,
                    props["key_prefix"],
                    store,
                    progress=progress,
                )
                break
            except StoreError as exc:
                denied = any(s in exc.message for s in ("403", "AccessDenied", "Authorization"))
                if not denied or time.monotonic() > deadline:
                    raise RuntimeError(f"weights upload to {uri}: {exc.message}") from None
                pulumi.log.info(f"weights: access denied, waiting for permissions: {exc.message}")
                time.sleep(self.poll_s)
            except UploadError as exc:
                raise RuntimeError(f"weights upload to {uri}: {exc.message}") from None
        pulumi.log.info(
            f"weights: uploaded {report.uploaded_files} files "
            f"({report.uploaded_bytes / 1e9:.2f} GB), {report.skipped_files} already there"
        )
        outs = {k: v for k, v in props.items() if not k.startswith("__")}
        outs.update(
            uri=uri,
            uploaded_files=report.uploaded_files,
            uploaded_bytes=report.uploaded_bytes,
            skipped_files=report.skipped_files,
            replaced=list(report.replaced),
        )
        return outs


class _LoggedProgress:
    """The upload's progress (a ``model_packages.upload.UploadProgress``) on ``pulumi.log``:
    each file sent, and every tenth of the bytes; one for all tries of an upload."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.logged = 0

    def begin(self, files: int, total_bytes: int) -> None:
        pass

    def file(self, key: str, size: int) -> None:
        pass

    def sent(self, n: int) -> None:
        self.done += n
        tenth = self.done * 10 // self.total
        if tenth > self.logged:
            self.logged = tenth
            pulumi.log.info(f"weights: {min(100, tenth * 10)} % of {self.total / 1e9:.2f} GB")

    def synced(self, key: str, status: str, size: int) -> None:
        if status != "skipped":
            pulumi.log.info(f"weights: {status} {key} ({size / 1e6:.1f} MB)")

    def end(self) -> None:
        pass


pickle_by_value(WeightsUploadProvider)  # see the module docstring
pickle_by_value(_LoggedProgress)


class WeightsUpload(Resource, module="weights", name="Upload"):
    """One package's weights folder under ``models/<digest>/`` of one bucket or container."""

    uri: pulumi.Output[str]
    uploaded_files: pulumi.Output[int]
    skipped_files: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        store: dict[str, pulumi.Input[str]],
        uri: pulumi.Input[str],
        manifest: Any,
        folder: str,
        project_dir: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        w = manifest.weights
        super().__init__(
            WeightsUploadProvider(),
            name,
            {
                "store": store,
                "uri": uri,
                "key_prefix": w.key_prefix,
                "digest": w.digest,
                "files": [f.model_dump() for f in w.files],
                "folder": folder,
                "project_dir": project_dir,
                "uploaded_files": None,
                "uploaded_bytes": None,
                "skipped_files": None,
                "replaced": None,
            },
            opts,
        )
