"""What the uploader and the output cache need from a bucket, whatever the cloud.

A store is one class per cloud (``s3.py``, ``gcs.py``, ``azure.py``) over that cloud's SDK,
imported inside its methods so that importing a store stays light. Credentials come from
each SDK's default chain; they are never taken as arguments and never printed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MiB
CHUNK_SIZE = 16 * MiB  # S3 part / Azure block / GCS resumable chunk (a multiple of 256 KiB)
MAX_CONCURRENCY = 8
READ_CHUNK = 1 * MiB  # what a re-hash reads at a time (``upload --verify``)

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes just sent (negative when the SDK rewinds for a retry)."""


class RemoteObject(NamedTuple):
    size: int
    sha256: str | None  # None: the object exists but carries no sha256


@runtime_checkable
class ObjectStore(Protocol):
    """What the uploader needs from a bucket. Keys are full object keys.

    ``put`` must read ``path`` through :class:`~model_packages.upload.reading.VerifiedReader`
    (so a file that does not match ``sha256``/``size`` aborts), record ``sha256`` on the
    object, make the object visible only once complete, and call ``progress_cb`` with bytes
    sent.
    """

    def head(self, key: str) -> RemoteObject | None: ...

    def put(
        self, key: str, path: Path, sha256: str, size: int, progress_cb: ProgressCallback
    ) -> None: ...


@runtime_checkable
class HashingStore(Protocol):
    """What ``upload --verify`` needs besides :class:`ObjectStore`: the sha256 of an object's
    bytes as they are in the store, read streamed (never whole into memory); None when the
    object is not there."""

    def stream_sha256(self, key: str) -> str | None: ...


@runtime_checkable
class BytesStore(Protocol):
    """Small objects read and written whole: what the client's output cache needs.

    ``get_bytes`` answers None for a key that is not there; ``put_bytes`` replaces an object
    in one request (so a reader sees the old bytes or the new, never half) and records its
    sha256 like ``put``.
    """

    def get_bytes(self, key: str) -> bytes | None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...
