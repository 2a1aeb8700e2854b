"""Upload a built package to S3, GCS or an Azure ML datastore, content-addressed.

``genai-endpoints upload --package OUT/<cloud> --to URL`` puts a package built by this
folder's builders where the cloud's serving stack reads it. Accepted destinations:

- ``s3://BUCKET[/PREFIX]``
- ``gs://BUCKET[/PREFIX]``
- ``azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PREFIX``
  (the long Azure ML datastore URI, usually the workspace's default datastore,
  ``workspaceblobstore``; ``/paths/PREFIX`` may be left out for the container's root).

Key layout, below ``PREFIX`` (``P``)::

    P/<weights.key_prefix><path>      the model folder (``models/<digest>/``), layout kept
    P/manifests/<cloud>/<weights digest>.json   the package's manifest.json

The weights keep the model's folder layout (``unet/diffusion_pytorch_model.safetensors``)
because SageMaker's uncompressed ``S3Prefix`` model data, Vertex's artifact URI and an Azure
model asset all need the real layout. The prefix is the manifest's ``weights.key_prefix``,
content-addressed by the builder (``models/<digest>/``), so an unchanged model folder maps
to the same keys in every environment and is uploaded once; the code that serves it lives
in the runtime image, so a code change uploads nothing. Every file in the folder is listed
in the manifest (``weights.files``), and a file the manifest does not list stops the upload
(dotfiles and ``__pycache__`` aside). ``weights_uri`` in the :class:`UploadReport`
(``s3://B/P/models/<digest>/`` and the like) is what infra is given.

Each object carries its sha256: S3 user metadata ``sha256`` (plus an S3 ``SHA256``
checksum computed by the SDK for every request or part), GCS object metadata ``sha256``,
Azure blob metadata ``sha256``. An object is skipped when it already exists with the same
sha256 and size (a HEAD or metadata read; nothing is downloaded); an existing object whose
size or sha256 differs is uploaded again and listed in ``UploadReport.replaced``.

Local files are checked against the manifest while they are read for upload: the reader
hashes what it hands to the SDK and, before it hands over a file's last bytes, compares size
and sha256 with the manifest; on a mismatch it raises :class:`HashMismatchError` naming the
file, so the SDK never gets a complete body and no object is created. Nothing is ever loaded
whole into memory beyond one SDK chunk (or one small single-request object).

Nothing is lost or half-written on failure: a single-request upload is atomic; S3 multipart
uploads are aborted by the SDK's transfer manager on any error; Azure block blobs stay
invisible until their block list is committed; GCS resumable uploads are finalized only
by their last chunk. The manifest is uploaded last, so a manifest in the bucket means every
file it names is there.

Credentials come from each SDK's default chain (boto3's, ``google.auth.default``,
``DefaultAzureCredential``); they are never taken as arguments and never printed. The SDKs
are imported inside the stores, so importing this module stays light.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, NamedTuple, Protocol, runtime_checkable

from model_packages.manifest import FileEntry, Manifest

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MiB
CHUNK_SIZE = 16 * MiB  # S3 part / Azure block / GCS resumable chunk (a multiple of 256 KiB)
MAX_CONCURRENCY = 8
MANIFEST_NAME = "manifest.json"
READ_SIZE = 1 * MiB

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just sent (negative when the SDK rewinds for a retry)."""

ACCEPTED_FORMS = (
    "s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], or "
    "azureml://subscriptions/SUB/resourcegroups/RG/workspaces/WS/datastores/NAME/paths/PREFIX"
)


# --------------------------------------------------------------------------- errors


class UploadError(Exception):
    """A user-facing problem: the CLI prints its message on one line and exits 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DestinationError(UploadError, ValueError):
    """The --to URL is not one of the accepted forms."""


class PackageError(UploadError):
    """The package folder is missing, or its manifest is unreadable or inconsistent."""


class HashMismatchError(UploadError):
    """A local file's bytes do not match its manifest entry (size or sha256)."""


class CredentialsError(UploadError):
    """The cloud SDK found no usable credentials in its default chain."""


class StoreError(UploadError):
    """The store refused a request (no such bucket, access denied, ...)."""


# --------------------------------------------------------------------------- destinations

Scheme = Literal["s3", "gs", "azureml"]

_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=+,@~-]+")
_AZ_NAME = re.compile(r"[A-Za-z0-9._()-]+")
_AZURE = re.compile(
    r"azureml://subscriptions/(?P<sub>[^/]*)/resourcegroups/(?P<rg>[^/]*)"
    r"/workspaces/(?P<ws>[^/]*)/datastores/(?P<ds>[^/]*)(?:/paths(?:/(?P<path>.*))?)?",
    re.IGNORECASE | re.DOTALL,
)
_MAX_PREFIX = 512


@dataclass(frozen=True)
class Destination:
    """Where a package goes. ``bucket`` is the S3/GCS bucket or the Azure ML datastore name;
    ``prefix`` has no leading or trailing slash ('' for the bucket's root)."""

    scheme: Scheme
    bucket: str
    prefix: str = ""
    subscription: str | None = None
    resource_group: str | None = None
    workspace: str | None = None

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (a key below the prefix)."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def uri(self, relative: str = "") -> str:
        """The URI of ``relative`` (a key or key prefix below the prefix) in this scheme."""
        key = self.key(relative) if relative else self.prefix
        if self.scheme == "azureml":
            return (
                f"azureml://subscriptions/{self.subscription}/resourcegroups/"
                f"{self.resource_group}/workspaces/{self.workspace}/datastores/"
                f"{self.bucket}/paths/{key}"
            )
        return f"{self.scheme}://{self.bucket}/{key}"


def _bad(url: object, why: str) -> DestinationError:
    return DestinationError(f"destination {url!r}: {why}; expected {ACCEPTED_FORMS}")


def _clean_prefix(url: str, raw: str) -> str:
    prefix = raw.rstrip("/")
    if not prefix:
        return ""
    if len(prefix) > _MAX_PREFIX:
        raise _bad(url, f"the prefix is longer than {_MAX_PREFIX} characters")
    for segment in prefix.split("/"):
        if not segment:
            raise _bad(url, "the prefix has an empty path segment ('//')")
        if segment in (".", ".."):
            raise _bad(url, f"the prefix may not contain a {segment!r} segment")
        if not _SEGMENT.fullmatch(segment):
            raise _bad(
                url,
                f"prefix segment {segment!r} may hold only letters, digits and !_.*'()=+,@~-",
            )
    return prefix


def parse_destination(url: str) -> Destination:
    """Parse a --to URL; raises :class:`DestinationError` (naming the URL) for anything else."""
    if not isinstance(url, str):
        raise _bad(url, "not a string")
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("s3", "gs", "azureml"):
        raise _bad(url, "unknown scheme" if sep else "not a URL")
    if any(c in rest for c in "?#"):
        raise _bad(url, "query strings and fragments are not allowed")
    if scheme == "azureml":
        return _parse_azureml(url, text)
    bucket, _, raw_prefix = rest.partition("/")
    pattern, allowed = (
        (_S3_BUCKET, "lowercase letters, digits, '-' and '.'")
        if scheme == "s3"
        else (_GCS_BUCKET, "lowercase letters, digits, '-', '_' and '.'")
    )
    if not pattern.fullmatch(bucket) or ".." in bucket:
        raise _bad(
            url,
            f"{bucket!r} is not a valid bucket name ({allowed}, "
            "starting and ending with a letter or digit)",
        )
    return Destination(scheme=scheme, bucket=bucket, prefix=_clean_prefix(url, raw_prefix))


def _parse_azureml(url: str, text: str) -> Destination:
    match = _AZURE.fullmatch(text)
    if match is None:
        if text.lower().startswith("azureml://datastores/"):
            raise _bad(url, "use the long form, which names subscription, group and workspace")
        raise _bad(url, "not an Azure ML datastore URI")
    parts = {
        "subscription": match["sub"],
        "resource group": match["rg"],
        "workspace": match["ws"],
        "datastore": match["ds"],
    }
    for what, value in parts.items():
        if not _AZ_NAME.fullmatch(value):
            raise _bad(url, f"the {what} {value!r} is empty or has characters Azure does not allow")
    return Destination(
        scheme="azureml",
        bucket=match["ds"],
        prefix=_clean_prefix(url, match["path"] or ""),
        subscription=match["sub"],
        resource_group=match["rg"],
        workspace=match["ws"],
    )


# --------------------------------------------------------------------------- verified reading


class VerifiedReader:
    """A read-only stream over ``path`` that hashes what it returns and, before returning a
    file's last bytes, checks size and sha256 against the manifest's; a mismatch raises
    :class:`HashMismatchError` naming the file, so the SDK never holds a complete body.

    With ``seekable=False`` (S3, Azure) SDKs read it once, front to back. With
    ``seekable=True`` (GCS resumable uploads, which ``tell()`` and rewind on a retry)
    a backward seek rehashes from the start, streamed.
    """

    def __init__(self, path: Path, sha256: str, size: int, *, seekable: bool = False) -> None:
        self.path = path
        self.expected_sha256 = sha256.lower()
        self.size = size
        self._seekable = seekable
        self._file: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._hash = hashlib.sha256()
        self._pos = 0
        self._verified = False
        actual = self._stat_size()
        if actual != size:
            self.close()
            raise self._size_error(actual)

    def _stat_size(self) -> int:
        return os.fstat(self._file.fileno()).st_size

    def _size_error(self, actual: int) -> HashMismatchError:
        return HashMismatchError(
            f"{self.path}: {actual} bytes on disk but the manifest says {self.size}; "
            "the package changed after it was built: rebuild it"
        )

    # file-like protocol ----------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def writable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return self._file.closed

    def read(self, n: int | None = -1) -> bytes:
        remaining = self.size - self._pos
        want = remaining if n is None or n < 0 else min(n, remaining)
        data = self._file.read(want) if want > 0 else b""
        if len(data) < want:  # file shrank while being read
            raise self._size_error(self._pos + len(data))
        self._hash.update(data)
        self._pos += len(data)
        if self._pos == self.size and not self._verified:
            self._verify()
        return data

    def _verify(self) -> None:
        if self._file.read(1):
            raise self._size_error(self.size + 1)
        actual = self._hash.hexdigest()
        if actual != self.expected_sha256:
            raise HashMismatchError(
                f"{self.path}: sha256 {actual} does not match the manifest's "
                f"{self.expected_sha256}; the package changed after it was built: rebuild it"
            )
        self._verified = True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        target = {0: offset, 1: self._pos + offset, 2: self.size + offset}.get(whence)
        if target is None or not 0 <= target <= self.size:
            raise OSError(f"cannot seek to {offset} (whence {whence}) in {self.path}")
        if target == self._pos:
            return target
        if not self._seekable or target > self._pos:
            raise OSError(f"{self.path} is read front to back; cannot seek to {target}")
        # rewind: rehash from the start, streamed, so the digest stays the whole file's
        self._file.seek(0)
        self._hash = hashlib.sha256()
        self._pos = 0
        self._verified = False
        while self._pos < target:
            chunk = self._file.read(min(READ_SIZE, target - self._pos))
            if not chunk:
                raise self._size_error(self._pos)
            self._hash.update(chunk)
            self._pos += len(chunk)
        return target

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sha256_of(path: Path) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- stores


class RemoteObject(NamedTuple):
    size: int
    sha256: str | None  # None: the object exists but carries no sha256


@runtime_checkable
class ObjectStore(Protocol):
    """What the uploader needs from a bucket. Keys are full object keys.

    ``put`` must read ``path`` through :class:`VerifiedReader` (so a file that does not
    match ``sha256``/``size`` aborts), record ``sha256`` on the object, make the object
    visible only once complete, and call ``progress_cb`` with bytes sent.
    """

    def head(self, key: str) -> RemoteObject | None: ...

    def put(
        self, key: str, path: Path, sha256: str, size: int, progress_cb: ProgressCallback
    ) -> None: ...


class S3Store:
    """An S3 bucket through boto3's transfer manager (multipart above ``multipart_threshold``,
    aborted on failure). ``client`` defaults to ``boto3.client("s3")``."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        multipart_chunksize: int = CHUNK_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        self.bucket = bucket
        self._client = client
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self.max_concurrency = max_concurrency

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def _translate(self, exc: Exception, key: str) -> UploadError | None:
        from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

        if isinstance(exc, NoCredentialsError):
            return CredentialsError(
                "no AWS credentials found (boto3's default chain: environment, "
                "~/.aws/credentials, SSO, instance role); configure one and retry"
            )
        if isinstance(exc, NoRegionError):
            return CredentialsError("no AWS region configured; set AWS_REGION or a profile")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "?")
            return StoreError(
                f"s3://{self.bucket}/{key}: {code}: {error.get('Message') or 'request refused'}"
            )
        return None

    def head(self, key: str) -> RemoteObject | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._translate(exc, key) from None
        except BotoCoreError as exc:
            translated = self._translate(exc, key)
            if translated is None:
                raise
            raise translated from None
        metadata = {k.lower(): v for k, v in (response.get("Metadata") or {}).items()}
        return RemoteObject(int(response["ContentLength"]), metadata.get("sha256"))

    def put(
        self, key: str, path: Path, sha256: str, size: int, progress_cb: ProgressCallback
    ) -> None:
        from boto3.s3.transfer import TransferConfig, create_transfer_manager
        from botocore.exceptions import BotoCoreError, ClientError
        from s3transfer.subscribers import BaseSubscriber

        class _Progress(BaseSubscriber):
            def on_queued(self, future: Any, **kwargs: Any) -> None:
                # known size: no read-ahead to decide put vs multipart, chunk size adjusted
                future.meta.provide_transfer_size(size)

            def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
                progress_cb(bytes_transferred)

        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )
        extra = {"Metadata": {"sha256": sha256}, "ChecksumAlgorithm": "SHA256"}
        try:
            with (
                VerifiedReader(path, sha256, size) as reader,
                create_transfer_manager(self.client, config) as manager,
            ):
                future = manager.upload(
                    reader, self.bucket, key, extra_args=extra, subscribers=[_Progress()]
                )
                future.result()
        except (ClientError, BotoCoreError) as exc:
            translated = self._translate(exc, key)
            if translated is None:
                raise
            raise translated from None


class GCSStore:
    """A GCS bucket through google-cloud-storage (resumable, chunked uploads above
    ``resumable_threshold``). ``client`` defaults to ``google.cloud.storage.Client()``."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        resumable_threshold: int = MULTIPART_THRESHOLD,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if chunk_size % (256 * 1024):
            raise ValueError("GCS chunk_size must be a multiple of 256 KiB")
        self.bucket_name = bucket
        self._client = client
        self._bucket: Any = None
        self.resumable_threshold = resumable_threshold
        self.chunk_size = chunk_size

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            if self._client is None:
                try:
                    from google.cloud import storage
                except ImportError:
                    raise UploadError(
                        "gs:// destinations need google-cloud-storage: "
                        "pip install google-cloud-storage"
                    ) from None
                try:
                    self._client = storage.Client()
                except Exception as exc:
                    raise self._translate(exc, "") or exc from None
            self._bucket = self._client.bucket(self.bucket_name)
        return self._bucket

    def _translate(self, exc: Exception, key: str) -> UploadError | None:
        try:
            from google.auth.exceptions import DefaultCredentialsError, RefreshError
        except ImportError:  # pragma: no cover - google-auth comes with the SDK
            return None
        if isinstance(exc, DefaultCredentialsError | RefreshError):
            return CredentialsError(
                "no usable Google credentials (google.auth.default: "
                "GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, "
                f"metadata server): {type(exc).__name__}"
            )
        try:
            from google.api_core.exceptions import ClientError
        except ImportError:  # pragma: no cover
            return None
        if isinstance(exc, ClientError):
            return StoreError(f"gs://{self.bucket_name}/{key}: {exc.code}: {exc.message}")
        return None

    def head(self, key: str) -> RemoteObject | None:
        try:
            blob = self.bucket.get_blob(key)
        except UploadError:
            raise
        except Exception as exc:
            raise self._translate(exc, key) or exc from None
        if blob is None:
            return None
        metadata = {k.lower(): v for k, v in (blob.metadata or {}).items()}
        return RemoteObject(int(blob.size), metadata.get("sha256"))

    def put(
        self, key: str, path: Path, sha256: str, size: int, progress_cb: ProgressCallback
    ) -> None:
        big = size > self.resumable_threshold
        blob = self.bucket.blob(key, chunk_size=self.chunk_size if big else None)
        blob.metadata = {"sha256": sha256}
        try:
            with VerifiedReader(path, sha256, size, seekable=True) as reader:
                counting = _CountingReader(reader, progress_cb)
                blob.upload_from_file(counting, size=size, rewind=False)
        except UploadError:
            raise
        except Exception as exc:
            raise self._translate(exc, key) or exc from None


class _CountingReader:
    """Reports reads and rewinds of a VerifiedReader as progress (GCS has no upload hook)."""

    def __init__(self, inner: VerifiedReader, progress_cb: ProgressCallback) -> None:
        self._inner = inner
        self._cb = progress_cb

    def read(self, n: int | None = -1) -> bytes:
        data = self._inner.read(n)
        if data:
            self._cb(len(data))
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        before = self._inner.tell()
        after = self._inner.seek(offset, whence)
        if after != before:
            self._cb(after - before)
        return after

    def tell(self) -> int:
        return self._inner.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._inner.seekable()


class AzureBlobStore:
    """An Azure ML datastore's blob container, resolved lazily through azure-ai-ml
    (``MLClient(...).datastores.get(name)``) and written with azure-storage-blob (block
    blobs: one PUT up to ``max_single_put_size``, else blocks of ``max_block_size`` that
    become a blob only when the block list is committed). ``container_client`` (an
    ``azure.storage.blob.ContainerClient`` or a fake) skips the resolution."""

    def __init__(
        self,
        subscription: str,
        resource_group: str,
        workspace: str,
        datastore: str,
        *,
        container_client: Any = None,
        max_single_put_size: int = MULTIPART_THRESHOLD,
        max_block_size: int = CHUNK_SIZE,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        self.subscription = subscription
        self.resource_group = resource_group
        self.workspace = workspace
        self.datastore = datastore
        self._container = container_client
        self.max_single_put_size = max_single_put_size
        self.max_block_size = max_block_size
        self.max_concurrency = max_concurrency

    @property
    def where(self) -> str:
        return f"datastore {self.datastore!r} of workspace {self.workspace!r}"

    @property
    def container(self) -> Any:
        if self._container is None:
            try:
                self._container = self._resolve()
            except UploadError:
                raise
            except Exception as exc:
                raise self._translate(exc, "") or exc from None
        return self._container

    def _resolve(self) -> Any:
        try:
            from azure.ai.ml import MLClient
            from azure.identity import DefaultAzureCredential
            from azure.storage.blob import BlobServiceClient
        except ImportError as exc:
            raise UploadError(
                "azureml:// destinations need azure-ai-ml, azure-identity and "
                f"azure-storage-blob importable; importing them failed: {exc}"
            ) from None

        # azure-identity logs every credential it tried before raising; the raise is
        # answered in one line (CredentialsError), so the log would only repeat it at length
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
        credential = DefaultAzureCredential()
        ml_client = MLClient(
            credential,
            subscription_id=self.subscription,
            resource_group_name=self.resource_group,
            workspace_name=self.workspace,
        )
        store = ml_client.datastores.get(self.datastore)
        # AzureBlobDatastore has container_name, AzureDataLakeGen2Datastore filesystem
        # (the blob API writes to both); a file share or Gen1 store has neither
        container = getattr(store, "container_name", None) or getattr(store, "filesystem", None)
        if not container:
            raise StoreError(
                f"{self.where} is a {type(store).__name__}; "
                "only blob and ADLS Gen2 datastores can take a package"
            )
        service = BlobServiceClient(
            f"{store.protocol or 'https'}://{store.account_name}.blob.{store.endpoint}",
            credential=credential,
            max_single_put_size=self.max_single_put_size,
            max_block_size=self.max_block_size,
        )
        return service.get_container_client(container)

    def _translate(self, exc: Exception, key: str) -> UploadError | None:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        if isinstance(exc, ClientAuthenticationError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return CredentialsError(
                "no usable Azure credentials (DefaultAzureCredential: environment, "
                f"managed identity, az login, ...): {type(exc).__name__}: {first[:200]}"
            )
        if isinstance(exc, ResourceNotFoundError) and not key:
            return StoreError(f"{self.where} not found")
        if isinstance(exc, HttpResponseError):
            where = f"{self.where}, blob {key!r}" if key else self.where
            return StoreError(f"{where}: HTTP {exc.status_code}: {exc.reason or 'refused'}")
        return None

    def head(self, key: str) -> RemoteObject | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self.container.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except UploadError:
            raise
        except Exception as exc:
            raise self._translate(exc, key) or exc from None
        metadata = {k.lower(): v for k, v in (props.metadata or {}).items()}
        return RemoteObject(int(props.size), metadata.get("sha256"))

    def put(
        self, key: str, path: Path, sha256: str, size: int, progress_cb: ProgressCallback
    ) -> None:
        sent = 0

        def hook(current: int, total: int | None) -> None:
            nonlocal sent
            if current != sent:
                progress_cb(current - sent)
                sent = current

        try:
            with VerifiedReader(path, sha256, size) as reader:
                self.container.get_blob_client(key).upload_blob(
                    reader,
                    length=size,
                    overwrite=True,
                    metadata={"sha256": sha256},
                    max_concurrency=self.max_concurrency,
                    progress_hook=hook,
                )
        except UploadError:
            raise
        except Exception as exc:
            raise self._translate(exc, key) or exc from None


def store_for(destination: Destination) -> ObjectStore:
    """The store for a destination, with credentials from the SDK's default chain."""
    if destination.scheme == "s3":
        return S3Store(destination.bucket)
    if destination.scheme == "gs":
        return GCSStore(destination.bucket)
    assert destination.subscription and destination.resource_group and destination.workspace
    return AzureBlobStore(
        destination.subscription,
        destination.resource_group,
        destination.workspace,
        destination.bucket,
    )


# --------------------------------------------------------------------------- planning

Kind = Literal["weights", "manifest"]


@dataclass(frozen=True)
class UploadItem:
    """One file to upload. ``key`` is relative to the destination's prefix."""

    local_path: Path
    key: str
    sha256: str
    size: int
    kind: Kind


def load_manifest(package_dir: Path) -> Manifest:
    from pydantic import ValidationError

    package_dir = Path(package_dir)
    if not package_dir.is_dir():
        raise PackageError(f"--package {package_dir}: not a folder")
    path = package_dir / MANIFEST_NAME
    if not path.is_file():
        raise PackageError(
            f"--package {package_dir}: no {MANIFEST_NAME}; pass a built package folder "
            "(OUT/<cloud>, as written by `genai-endpoints package`)"
        )
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise PackageError(f"{path}: {where}: {first['msg']}") from None


def _safe_relative(path: str, what: str, manifest: Path) -> str:
    pure = PurePosixPath(path)
    if (
        not path
        or pure.is_absolute()
        or "\\" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise PackageError(f"{manifest}: {what} {path!r} is not a plain relative POSIX path")
    return path


def _safe_component(value: str, what: str, manifest: Path) -> str:
    if not value or not _SEGMENT.fullmatch(value) or value in (".", ".."):
        raise PackageError(f"{manifest}: {what} {value!r} cannot be part of an object key")
    return value


def _ignored(rel: PurePosixPath) -> bool:
    """Files a package may gain after its build that no manifest lists: dotfiles and
    ``__pycache__`` (serving a package locally compiles its code)."""
    return any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def _section(
    kind: Kind,
    folder: Path,
    key_prefix: str,
    files: list[tuple[str, FileEntry]],
    manifest_path: Path,
    *,
    check_unlisted: bool = True,
) -> list[UploadItem]:
    items: list[UploadItem] = []
    seen: set[str] = set()
    for rel, entry in sorted(files, key=lambda pair: pair[0]):
        if rel in seen:
            raise PackageError(f"{manifest_path}: {kind} file {rel!r} is listed twice")
        seen.add(rel)
        local = folder / rel
        if not local.is_file():
            raise PackageError(f"{local}: listed in {manifest_path} but missing")
        actual = local.stat().st_size
        if actual != entry.size:
            raise HashMismatchError(
                f"{local}: {actual} bytes on disk but the manifest says {entry.size}; "
                "the package changed after it was built: rebuild it"
            )
        if not re.fullmatch(r"[0-9a-fA-F]{64}", entry.sha256):
            raise PackageError(f"{manifest_path}: {local}: sha256 {entry.sha256!r} is not hex")
        items.append(UploadItem(local, f"{key_prefix}/{rel}", entry.sha256.lower(), actual, kind))
    for path in sorted(folder.rglob("*")) if check_unlisted else []:
        rel_path = PurePosixPath(path.relative_to(folder).as_posix())
        if path.is_file() and not _ignored(rel_path) and rel_path.as_posix() not in seen:
            raise PackageError(
                f"{path}: in the {kind} folder but not in {manifest_path}; "
                "the package changed after it was built: rebuild it"
            )
    return items


def plan_upload(package_dir: Path) -> list[UploadItem]:
    """Every file to upload, in upload order: the model folder, then the manifest last.

    The weights prefix gets the whole model folder (the weights and ``genai_package.json``,
    as the manifest's ``weights.files`` lists them), so the prefix is what the container
    reads. Checks that each listed file exists with the listed size and that the folder
    holds nothing unlisted; the sha256 is checked while each file is read for upload.
    """
    package_dir = Path(package_dir)
    manifest = load_manifest(package_dir)
    manifest_path = package_dir / MANIFEST_NAME
    key_prefix = _safe_relative(manifest.weights.key_prefix.strip("/"), "key_prefix", manifest_path)
    digest = _safe_component(manifest.weights.digest, "weights.digest", manifest_path)
    weights_rel = PurePosixPath(_safe_relative(manifest.weights.folder, "folder", manifest_path))
    listed = [
        (_safe_relative(e.path, "weights file", manifest_path), e) for e in manifest.weights.files
    ]
    items = _section("weights", package_dir / weights_rel, key_prefix, listed, manifest_path)
    items.append(
        UploadItem(
            manifest_path,
            f"manifests/{manifest.cloud}/{digest}.json",
            sha256_of(manifest_path),
            manifest_path.stat().st_size,
            "manifest",
        )
    )
    return items


# --------------------------------------------------------------------------- uploading


@dataclass(frozen=True)
class UploadReport:
    uploaded_files: int
    uploaded_bytes: int
    skipped_files: int
    skipped_bytes: int
    replaced: list[str] = field(default_factory=list)
    """Keys that existed with another size or sha256 and were uploaded again."""
    weights_uri: str = ""
    """The weights folder (``.../models/<digest>/``): what infra is given."""
    manifest_uri: str = ""
    uploaded_keys: list[str] = field(default_factory=list)


def upload_package(
    package_dir: Path,
    destination: Destination | str,
    store: ObjectStore | None = None,
    progress: bool = True,
) -> UploadReport:
    """Upload a package (the model folder, manifest last), skipping objects already present
    with the same size and sha256. Raises :class:`UploadError` for a user's problem."""
    dest = parse_destination(destination) if isinstance(destination, str) else destination
    package_dir = Path(package_dir)
    manifest = load_manifest(package_dir)
    items = plan_upload(package_dir)
    store = store if store is not None else store_for(dest)

    total = sum(item.size for item in items)
    tally = _Tally()
    with _ProgressBar(total, enabled=progress) as bar:
        done = 0
        for item in items:
            bar.describe(item.key)
            _sync_one(
                store,
                dest.key(item.key),
                item.local_path,
                item.sha256,
                item.size,
                bar.advance,
                tally,
            )
            done += item.size
            bar.set(done)  # absorb SDK progress that over- or under-counted (retries)
        bar.describe("done")

    return tally.report(
        weights_uri=dest.uri(manifest.weights.key_prefix.strip("/") + "/"),
        manifest_uri=dest.uri(items[-1].key),
    )


@dataclass
class _Tally:
    """What one upload skipped, sent and replaced, so far."""

    uploaded_files: int = 0
    uploaded_bytes: int = 0
    skipped_files: int = 0
    skipped_bytes: int = 0
    replaced: list[str] = field(default_factory=list)
    uploaded_keys: list[str] = field(default_factory=list)

    def report(self, **uris: str) -> UploadReport:
        return UploadReport(
            uploaded_files=self.uploaded_files,
            uploaded_bytes=self.uploaded_bytes,
            skipped_files=self.skipped_files,
            skipped_bytes=self.skipped_bytes,
            replaced=self.replaced,
            uploaded_keys=self.uploaded_keys,
            **uris,
        )


def _sync_one(
    store: ObjectStore,
    key: str,
    local: Path,
    sha256: str,
    size: int,
    sent: ProgressCallback,
    tally: _Tally,
) -> str:
    """Put ``local`` at ``key`` unless an object with the same size and sha256 is there;
    returns "skipped", "uploaded" or "replaced". A file that must be sent but is not on
    disk is a :class:`PackageError` (a skipped one need not exist locally)."""
    sha256 = sha256.lower()
    remote = store.head(key)
    if remote is not None and remote.size == size and remote.sha256 == sha256:
        tally.skipped_files += 1
        tally.skipped_bytes += size
        return "skipped"
    if not local.is_file():
        raise PackageError(
            f"{local}: not in the folder and not yet at {key!r}; rebuild the package "
            "(or run from the machine that built it)"
        )
    store.put(key, local, sha256, size, sent)
    tally.uploaded_files += 1
    tally.uploaded_bytes += size
    tally.uploaded_keys.append(key)
    if remote is not None:
        tally.replaced.append(key)
        return "replaced"
    return "uploaded"


class _ProgressBar:
    """One rich progress bar over total bytes, on stderr; thread-safe ``advance``."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ProgressBar:
        from rich.console import Console

        console = Console(stderr=True)
        if self.enabled and console.is_terminal:  # a bar in a log file is only noise
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
            self._task = self._progress.add_task("upload", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def describe(self, text: str) -> None:
        if self._progress is not None:
            name = text if len(text) <= 40 else "…" + text[-39:]
            self._progress.update(self._task, description=name)

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def set(self, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed)


# --------------------------------------------------------------------------- a listed folder


def upload_files(
    folder: Path,
    files: list[tuple[str, str, int]],
    key_prefix: str,
    store: ObjectStore,
    *,
    on_file: Callable[[str, str, int], None] | None = None,
    on_bytes: ProgressCallback | None = None,
) -> UploadReport:
    """Upload ``files`` — ``(path, sha256, size)`` below ``folder`` — to ``key_prefix`` in
    ``store``, skipping each object already there with the same size and sha256.

    This is what ``pulumi up`` runs for a package's weights folder (infra's upload step gets
    the manifest's file list, never the bytes). A file that must be uploaded is read through
    :class:`VerifiedReader`, so bytes that do not match the list never become an object. A
    file missing locally is fine when its object is already in the store. ``on_file`` is
    called with ``(key, "skipped" | "uploaded" | "replaced", size)``; ``on_bytes`` with the
    bytes just sent.
    """
    folder = Path(folder)
    prefix = key_prefix.strip("/")
    report_file = on_file or (lambda key, status, size: None)
    sent = on_bytes or (lambda n: None)
    tally = _Tally()
    for path, sha256, size in sorted(files):
        if not path or PurePosixPath(path).is_absolute() or ".." in path.split("/"):
            raise PackageError(f"{path!r} is not a plain relative path")
        key = f"{prefix}/{path}" if prefix else path
        status = _sync_one(store, key, folder / path, sha256, size, sent, tally)
        report_file(key, status, size)
    return tally.report()
