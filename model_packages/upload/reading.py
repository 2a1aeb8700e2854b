"""Verified reading: local files are checked against the manifest while they are read.

The reader hashes what it hands to the SDK and, before it hands over a file's last bytes,
compares size and sha256 with the manifest; on a mismatch it raises
:class:`HashMismatchError` naming the file, so the SDK never gets a complete body and no
object is created. Nothing is ever loaded whole into memory beyond one SDK chunk (or one
small single-request object).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO

from model_packages.upload.errors import HashMismatchError

MiB = 1024 * 1024
READ_SIZE = 1 * MiB


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
