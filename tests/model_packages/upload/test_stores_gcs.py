"""The GCS store against an in-memory fake of the google-cloud-storage objects it calls
(no SDK for GCS here)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pytest

from model_packages.upload.errors import HashMismatchError
from model_packages.upload.plan import plan_upload
from model_packages.upload.stores.gcs import GCSStore
from model_packages.upload.sync import upload_package
from tests.model_packages.upload.helpers import BIG, THRESHOLD, MiB, expected_keys, prefix_of


@dataclass
class FakeGCSBlob:
    bucket: FakeGCSBucket
    name: str
    chunk_size: int | None = None
    metadata: dict | None = None
    size: int | None = None

    def upload_from_file(self, file_obj, size=None, rewind=False, **_):
        assert size is not None and not rewind
        # the library reads chunk_size at a time (resumable) or the whole body (one request);
        # a resumable retry seeks back to the last confirmed byte
        step = self.chunk_size or size
        assert file_obj.tell() == 0
        body = bytearray()
        retried = False
        while len(body) < size:
            chunk = file_obj.read(min(step, size - len(body)))
            if self.chunk_size and not retried and len(body) + len(chunk) < size:
                retried = True
                file_obj.seek(len(body))  # the chunk "failed": send it again
                continue
            body += chunk
        self.bucket.uploads.append((self.name, self.chunk_size))
        self.bucket.objects[self.name] = (bytes(body), dict(self.metadata or {}))

    def upload_from_string(self, data):
        self.bucket.uploads.append((self.name, self.chunk_size))
        self.bucket.objects[self.name] = (bytes(data), dict(self.metadata or {}))

    def download_as_bytes(self):
        from google.api_core.exceptions import NotFound

        if self.name not in self.bucket.objects:
            raise NotFound(f"No such object: {self.bucket.name}/{self.name}")
        return self.bucket.objects[self.name][0]


@dataclass
class FakeGCSBucket:
    name: str
    objects: dict = field(default_factory=dict)
    uploads: list = field(default_factory=list)

    def get_blob(self, name):
        if name not in self.objects:
            return None
        data, metadata = self.objects[name]
        return FakeGCSBlob(self, name, metadata=metadata, size=len(data))

    def blob(self, name, chunk_size=None):
        return FakeGCSBlob(self, name, chunk_size=chunk_size)


class FakeGCSClient:
    def __init__(self):
        self.buckets: dict[str, FakeGCSBucket] = {}

    def bucket(self, name):
        return self.buckets.setdefault(name, FakeGCSBucket(name))


def test_gcs_store_layout_metadata_chunks_and_skip(package):
    client = FakeGCSClient()
    store = GCSStore("my-bucket", client=client, resumable_threshold=THRESHOLD, chunk_size=MiB)
    report = upload_package(package, "gs://my-bucket/envs/dev", store=store)

    bucket = client.buckets["my-bucket"]
    assert set(bucket.objects) == expected_keys(package, "envs/dev")
    for item in plan_upload(package):
        data, metadata = bucket.objects[f"envs/dev/{item.key}"]
        assert metadata == {"sha256": item.sha256}
        assert hashlib.sha256(data).hexdigest() == item.sha256
    chunked = {name for name, chunk in bucket.uploads if chunk}  # resumable, in chunks
    assert chunked == {f"envs/dev/{prefix_of(package)}{BIG}"}
    assert report.weights_uri.startswith("gs://my-bucket/envs/dev/models/")

    bucket.uploads.clear()
    again = upload_package(package, "gs://my-bucket/envs/dev", store=store)
    assert again.uploaded_files == 0 and bucket.uploads == []

    key = f"envs/dev/{prefix_of(package)}model_index.json"
    bucket.objects[key] = (b"{}", {"sha256": "0" * 64})
    third = upload_package(package, "gs://my-bucket/envs/dev", store=store)
    assert third.replaced == [key] and [name for name, _ in bucket.uploads] == [key]


def test_gcs_store_mismatch_leaves_no_object(package):
    client = FakeGCSClient()
    store = GCSStore("my-bucket", client=client, resumable_threshold=THRESHOLD, chunk_size=MiB)
    big = package / "model" / BIG
    big.write_bytes(big.read_bytes()[:-1] + b"\x00")
    with pytest.raises(HashMismatchError, match=r"diffusion_pytorch_model\.safetensors"):
        upload_package(package, "gs://my-bucket", store=store)
    assert not any(k.endswith(BIG) for k in client.buckets["my-bucket"].objects)


def test_gcs_without_its_sdk_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_gcs(name, *args, **kwargs):
        if name.startswith("google.cloud"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gcs)
    from model_packages.upload import UploadError

    with pytest.raises(UploadError, match="pip install google-cloud-storage"):
        GCSStore("my-bucket").head("k")


def test_gcs_store_small_objects_for_the_cache():
    """The output cache's reads and writes: whole objects, sha256 recorded, None when absent."""
    client = FakeGCSClient()
    store = GCSStore("my-bucket", client=client)
    assert store.get_bytes("c/entries/x.json") is None
    store.put_bytes("c/entries/x.json", b"{}")
    assert store.get_bytes("c/entries/x.json") == b"{}"
    assert client.buckets["my-bucket"].objects["c/entries/x.json"] == (
        b"{}",
        {"sha256": hashlib.sha256(b"{}").hexdigest()},
    )
