"""Verified reading: a file is checked against its manifest entry while it is read."""

from __future__ import annotations

import hashlib
import os

import pytest

from model_packages.upload.errors import HashMismatchError
from model_packages.upload.reading import VerifiedReader


def test_verified_reader_streams_and_checks(tmp_path):
    data = os.urandom(3000)
    path = tmp_path / "f"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    with VerifiedReader(path, sha, 3000) as r:
        assert not r.seekable()
        assert r.read(1000) + r.read() == data and r.read() == b""
    with VerifiedReader(path, sha, 3000, seekable=True) as r:  # GCS-style rewind on retry
        r.read(2500)
        assert r.seek(1000) == 1000 and r.tell() == 1000
        assert r.read(5000) == data[1000:]
    with VerifiedReader(path, "f" * 64, 3000) as r:
        r.read(2999)  # the last byte is never handed over when the hash is wrong
        with pytest.raises(HashMismatchError, match="does not match"):
            r.read(1)
    with pytest.raises(HashMismatchError, match="3000 bytes on disk but the manifest says 2999"):
        VerifiedReader(path, sha, 2999)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with VerifiedReader(empty, hashlib.sha256(b"").hexdigest(), 0) as r:
        assert r.read(10) == b""
