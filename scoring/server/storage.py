"""Fetch a package's weights from a gs:// prefix (Vertex AI's ``AIP_STORAGE_URI``).

Vertex copies the model artifacts to a bucket of its own and tells the container where;
the container downloads them itself. Only the files ``genai_package.json`` lists are
fetched, each hashed while it streams to disk and refused on a size or sha256 mismatch,
so a partial or tampered copy never loads. Files already on disk with the right size and
hash (a restarted container) are kept. Credentials: the SDK's default chain (the
deployment's service account; ``STORAGE_EMULATOR_HOST`` for a local emulator).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from scoring.errors import ModelNotReady
from scoring.server.model import PACKAGE_INFO, PackageInfo, safe_relative, sha256_file

log = logging.getLogger(__name__)

PARALLEL_FILES = 8


def split_gs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` → (``bucket``, ``some/prefix/``)."""
    if not uri.startswith("gs://"):
        raise ModelNotReady(f"AIP_STORAGE_URI={uri!r}: expected gs://BUCKET/PREFIX")
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    if not bucket:
        raise ModelNotReady(f"AIP_STORAGE_URI={uri!r}: no bucket name")
    return bucket, (prefix.rstrip("/") + "/") if prefix else ""


class _HashingWriter:
    """A file object that hashes what the download writes through it."""

    def __init__(self, fh) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def fetch_gcs(uri: str, dest: Path) -> Path:
    """Download the package at ``uri`` into ``dest`` (created) and return ``dest``."""
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
    info_path = dest / PACKAGE_INFO
    info_path.write_bytes(raw)
    info = PackageInfo.read(info_path)
    if not info.files:
        raise ModelNotReady(f"{uri}/{PACKAGE_INFO} lists no files")

    def one(entry: dict[str, Any]) -> int:
        rel = safe_relative(entry["path"])
        target = dest / rel
        kept = target.is_file() and target.stat().st_size == entry["size"]
        if kept and sha256_file(target) == entry["sha256"]:
            return 0  # a restarted container keeps what it already verified
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with partial.open("wb") as fh:
            writer = _HashingWriter(fh)
            try:
                bucket.blob(prefix + rel.as_posix()).download_to_file(writer)
            except gexc.NotFound:
                raise ModelNotReady(f"weights: {rel} is missing from {uri}") from None
        if writer.size != entry["size"]:
            partial.unlink(missing_ok=True)
            raise ModelNotReady(
                f"weights: {rel} has {writer.size} bytes in {uri}, the package says {entry['size']}"
            )
        if writer.digest.hexdigest() != entry["sha256"]:
            partial.unlink(missing_ok=True)
            raise ModelNotReady(f"weights: {rel} in {uri} is corrupted (sha256 mismatch)")
        os.replace(partial, target)
        return writer.size

    with ThreadPoolExecutor(PARALLEL_FILES, thread_name_prefix="fetch") as pool:
        fetched = sum(pool.map(one, info.files))
    log.info(
        "fetched %d files (%.1f MB) from %s in %.1f s",
        len(info.files),
        fetched / 1e6,
        uri,
        time.monotonic() - start,
    )
    return dest
