"""A GCS bucket through google-cloud-storage: resumable, chunked uploads above a threshold
(finalized only by their last chunk), metadata reads for the skip check, and small
whole-object reads and writes for the output cache. Each object carries its sha256 as
object metadata ``sha256``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from model_packages.upload.errors import CredentialsError, StoreError, UploadError
from model_packages.upload.reading import VerifiedReader
from model_packages.upload.stores.base import (
    MULTIPART_THRESHOLD,
    READ_CHUNK,
    ProgressCallback,
    RemoteObject,
)

GCS_CHUNK_SIZE = 256 * 1024 * 1024
"""A resumable upload's chunk. Each chunk is one request that waits for its answer before
the next is read, so small chunks cost round trips: on fake-gcs-server against
``upload_from_filename`` (the SDK's default, 100 MiB chunks), 16 MiB chunks took 2.0x its
time, 100 MiB 1.06-1.11x, 256 MiB 1.00x (benchmarks/storage_throughput.py, 300 MB). One
chunk is held in memory at a time."""


class GCSStore:
    """A GCS bucket through google-cloud-storage (resumable, chunked uploads above
    ``resumable_threshold``). ``client`` defaults to ``google.cloud.storage.Client()``."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        resumable_threshold: int = MULTIPART_THRESHOLD,
        chunk_size: int = GCS_CHUNK_SIZE,
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

    def stream_sha256(self, key: str) -> str | None:
        blob = self.bucket.blob(key)
        from google.api_core.exceptions import NotFound

        digest = hashlib.sha256()
        try:
            with blob.open("rb") as reader:  # 40 MiB ranged reads (the SDK default)
                while chunk := reader.read(READ_CHUNK):
                    digest.update(chunk)
        except NotFound:
            return None
        except Exception as exc:
            raise self._translate(exc, key) or exc from None
        return digest.hexdigest()

    def get_bytes(self, key: str) -> bytes | None:
        blob = self.bucket.blob(key)  # first: without the SDK, its one-line error
        from google.api_core.exceptions import NotFound

        try:
            return blob.download_as_bytes()
        except NotFound:
            return None
        except Exception as exc:
            raise self._translate(exc, key) or exc from None

    def put_bytes(self, key: str, data: bytes) -> None:
        blob = self.bucket.blob(key)
        blob.metadata = {"sha256": hashlib.sha256(data).hexdigest()}
        try:
            blob.upload_from_string(data)
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
