"""The Vertex fetch (scoring/server/storage.py) against fake-gcs-server: every failure is
one line naming the file, and leaves no ``*.partial`` file behind; a stop (the server
shutting down) ends the fetch at the next chunk instead of holding the exit for it."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from scoring.errors import ModelNotReady
from scoring.server import storage
from scoring.server.storage import fetch_gcs
from tests.emulators import unique_name

# more than one write on the way to disk: the SDK streams a download in chunks
BIG = bytes(range(256)) * 20_000  # 5 MB
FILES = {"unet/weights.safetensors": BIG, "vae/config.json": b'{"a": 1}', "model_index.json": b"{}"}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.partial"))


@pytest.fixture
def gcs(fake_gcs_server):
    """A bucket on the emulator with a package under ``models/abc/``; the client the test
    writes with, and the gs:// URI the server is given."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs_sdk

    with fake_gcs_server.environment():
        client = gcs_sdk.Client(project="test", credentials=AnonymousCredentials())
        bucket = client.create_bucket(unique_name("vertex"))
        listing = [
            {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for path, data in FILES.items()
        ]
        package = {"model_id": "tiny", "revision": "abc", "files": listing}
        bucket.blob("models/abc/genai_package.json").upload_from_string(json.dumps(package))
        for path, data in FILES.items():
            bucket.blob(f"models/abc/{path}").upload_from_string(data)
        yield bucket, f"gs://{bucket.name}/models/abc"


def test_a_package_is_fetched_and_verified(gcs, tmp_path):
    _, uri = gcs
    fetch_gcs(uri, tmp_path / "w")
    for path, data in FILES.items():
        assert (tmp_path / "w" / path).read_bytes() == data
    assert leftovers(tmp_path) == []


def test_a_missing_object_leaves_no_partial_file(gcs, tmp_path):
    bucket, uri = gcs
    bucket.blob("models/abc/unet/weights.safetensors").delete()
    with pytest.raises(ModelNotReady, match=r"unet/weights.safetensors is missing from gs://"):
        fetch_gcs(uri, tmp_path / "w")
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "w" / "unet" / "weights.safetensors").exists()


@pytest.mark.parametrize(
    ("replacement", "why"),
    [(BIG[:-1] + b"\x00", "sha256 mismatch"), (BIG[:1000], "has 1000 bytes")],
)
def test_a_damaged_object_is_refused_naming_it_and_leaves_nothing(gcs, tmp_path, replacement, why):
    bucket, uri = gcs
    bucket.blob("models/abc/unet/weights.safetensors").upload_from_string(replacement)
    with pytest.raises(ModelNotReady, match=rf"unet/weights.safetensors.*{why}"):
        fetch_gcs(uri, tmp_path / "w")
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "w" / "unet" / "weights.safetensors").exists()


def test_a_failure_mid_stream_leaves_no_partial_file(gcs, tmp_path, monkeypatch):
    _, uri = gcs
    real = storage._HashingWriter.write

    def write(self, data):  # the disk fills after the first chunk
        if self.size:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(storage._HashingWriter, "write", write)
    with pytest.raises(OSError, match="No space left"):
        fetch_gcs(uri, tmp_path / "w")
    assert leftovers(tmp_path) == []


def test_the_first_failure_stops_the_other_downloads_and_is_the_one_reported(
    gcs, tmp_path, monkeypatch
):
    bucket, uri = gcs
    bucket.blob("models/abc/vae/config.json").delete()
    real = storage._HashingWriter.write

    def write(self, data):  # the big file streams on until another file has failed
        if self.size:
            for _ in range(500):
                if self.halted():
                    break
                time.sleep(0.01)
        return real(self, data)

    monkeypatch.setattr(storage._HashingWriter, "write", write)
    with pytest.raises(ModelNotReady, match=r"vae/config.json is missing"):
        fetch_gcs(uri, tmp_path / "w")
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "w" / "unet" / "weights.safetensors").exists()


def test_a_stop_ends_the_fetch_at_the_next_chunk_and_leaves_nothing(gcs, tmp_path, monkeypatch):
    _, uri = gcs
    stop = threading.Event()
    real = storage._HashingWriter.write

    def write(self, data):  # SIGTERM arrives while the big file streams
        if self.size:
            stop.set()
        return real(self, data)

    monkeypatch.setattr(storage._HashingWriter, "write", write)
    with pytest.raises(ModelNotReady, match="stopped"):
        fetch_gcs(uri, tmp_path / "w", stop=stop)
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "w" / "unet" / "weights.safetensors").exists()


def test_partial_files_of_a_killed_fetch_are_removed_by_the_next(gcs, tmp_path):
    # SIGKILL cannot be handled: the next start of the container cleans up after it
    _, uri = gcs
    stale = tmp_path / "w" / "unet" / ".gone.safetensors.partial"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    fetch_gcs(uri, tmp_path / "w")
    assert leftovers(tmp_path) == []
