"""Fetch a package's weights from a gs:// prefix (Vertex AI's ``AIP_STORAGE_URI``).

Vertex copies the model artifacts to a bucket of its own and tells the container where;
the container downloads them itself. Only the files ``genai_package.json`` lists are
fetched, each hashed while it streams to disk and refused on a size or sha256 mismatch,
so a partial or tampered copy never loads. Nothing half-written stays behind: a failed
file's ``.*.partial`` is removed on every failure (missing object, size or hash mismatch,
an error mid-stream), the first failure stops the other downloads, a shutdown (SIGTERM:
``stop``) ends the fetch at its next chunk rather than holding the exit for it, and the
partial files of a killed process are removed by the next fetch. Files already on disk
with the right size and hash (a restarted container) are kept. Credentials: the SDK's
default chain (the deployment's service account; ``STORAGE_EMULATOR_HOST`` for a local
emulator).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scoring.errors import ModelNotReady
from scoring.server.model import PACKAGE_INFO, PackageInfo, safe_relative, sha256_file

log = logging.getLogger(__name__)

PARALLEL_FILES = 8
PARTIAL = ".partial"


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` → (``bucket``, ``some/prefix/``)."""
    if not uri.startswith("gs://"):
        raise ModelNotReady(f"AIP_STORAGE_URI={uri!r}: expected gs://BUCKET/PREFIX")
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    if not bucket:
        raise ModelNotReady(f"AIP_STORAGE_URI={uri!r}: no bucket name")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


class _Halted(ModelNotReady):
    """This file stopped downloading because the fetch is ending: another file failed, or
    the server is shutting down."""


class _HashingWriter:
    """A file object that hashes what the download writes through it, and ends the download
    at the next chunk once ``halted()`` says so."""

    def __init__(self, fh, halted: Callable[[], bool]) -> None:
        self.fh = fh
        self.halted = halted
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        if self.halted():
            raise _Halted("weights: fetch stopped")
        self.digest.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def fetch_gcs(uri: str, dest: Path, stop: threading.Event | None = None) -> Path:
    """Download the package at ``uri`` into ``dest`` (created) and return ``dest``.
    ``stop`` (set when the server shuts down) ends the fetch at the next chunk: the exit
    does not wait for gigabytes nobody will load. Whatever fails, no ``*.partial`` file
    stays behind."""
    from google.api_core import exceptions as gexc
    from google.cloud import storage

    bucket_name, prefix = split_gs_uri(uri)
    start = time.monotonic()
    try:
        client = storage.Client()
        bucket = client.bucket(bucket_name)
        raw = bucket.blob(prefix + PACKAGE_INFO).download_as_bytes()
    except gexc.NotFound:
        raise ModelNotReady(
            f"{uri}: no {PACKAGE_INFO}; artifactUri must point at a package's model folder"
        ) from None
    except gexc.GoogleAPIError as exc:
        raise ModelNotReady(f"{uri}: cannot read the package ({type(exc).__name__})") from None
    dest.mkdir(parents=True, exist_ok=True)
    remove_partials(dest)
    info_path = dest / PACKAGE_INFO
    info_path.write_bytes(raw)
    info = PackageInfo.read(info_path)
    if not info.files:
        raise ModelNotReady(f"{uri}/{PACKAGE_INFO} lists no files")

    failed = threading.Event()  # the first failure stops the other downloads too

    def halted() -> bool:
        return failed.is_set() or (stop is not None and stop.is_set())

    def one(entry: dict[str, Any]) -> int:
        try:
            if halted():
                raise _Halted("weights: fetch stopped")
            return _fetch_file(bucket, prefix, uri, dest, entry, halted)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(PARALLEL_FILES, thread_name_prefix="fetch") as pool:
        futures = [pool.submit(one, entry) for entry in info.files]
    _raise_first_cause([f.exception() for f in futures], stop)
    fetched = sum(f.result() for f in futures)
    log.info(
        "fetched %d files (%.1f MB) from %s in %.1f s",
        len(info.files),
        fetched / 1e6,
        uri,
        time.monotonic() - start,
    )
    return dest


def _fetch_file(
    bucket: Any,
    prefix: str,
    uri: str,
    dest: Path,
    entry: dict[str, Any],
    halted: Callable[[], bool],
) -> int:
    """One listed file: kept if already there and verified, else streamed to a partial file
    that becomes the file only once its size and sha256 match; removed on any failure."""
    from google.api_core import exceptions as gexc

    rel = safe_relative(entry["path"])
    target = dest / rel
    kept = target.is_file() and target.stat().st_size == entry["size"]
    if kept and sha256_file(target) == entry["sha256"]:
        return 0  # a restarted container keeps what it already verified
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}{PARTIAL}")
    try:
        with partial.open("wb") as fh:
            writer = _HashingWriter(fh, halted)
            try:
                bucket.blob(prefix + rel.as_posix()).download_to_file(writer)
            except gexc.NotFound:
                raise ModelNotReady(f"weights: {rel} is missing from {uri}") from None
        if writer.size != entry["size"]:
            raise ModelNotReady(
                f"weights: {rel} has {writer.size} bytes in {uri}, the package says {entry['size']}"
            )
        if writer.digest.hexdigest() != entry["sha256"]:
            raise ModelNotReady(f"weights: {rel} in {uri} is corrupted (sha256 mismatch)")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return writer.size


def _raise_first_cause(errors: list[BaseException | None], stop: threading.Event | None) -> None:
    """The failure that ended the fetch, not a download it stopped on its way out."""
    causes = [e for e in errors if e is not None and not isinstance(e, _Halted)]
    if causes:
        raise causes[0]
    if any(errors):
        why = "the server is shutting down" if stop is not None and stop.is_set() else "halted"
        raise ModelNotReady(f"weights: fetch stopped: {why}")


def remove_partials(dest: Path) -> None:
    """Partial files a killed process left (SIGKILL cannot be handled): never loaded, since
    only a verified file is renamed into place, but they take disk space."""
    for path in dest.rglob(f".*{PARTIAL}"):
        path.unlink(missing_ok=True)
