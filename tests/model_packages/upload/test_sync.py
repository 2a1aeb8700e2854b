"""Sync through the smallest store: the layout and the skip for every destination form, and
what the library reports as progress."""

from __future__ import annotations

import pytest

from model_packages.upload.plan import plan_upload
from model_packages.upload.stores.base import ObjectStore
from model_packages.upload.sync import NoProgress, UploadProgress, upload_files, upload_package
from tests.model_packages.upload.helpers import AZ_URL, MemoryStore, expected_keys, prefix_of


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("gs://b-1/a/b/", "a/b"),
        (AZ_URL, "genai"),
        ("s3://b-1", ""),
        (AZ_URL.removesuffix("/paths/genai"), ""),
    ],
)
def test_memory_store_layout_and_skip_for_every_scheme(package, url, prefix):
    store = MemoryStore()
    assert isinstance(store, ObjectStore)
    first = upload_package(package, url, store=store)
    assert set(store.objects) == expected_keys(package, prefix)
    assert first.uploaded_files == len(store.puts) == len(expected_keys(package))
    store.puts.clear()
    second = upload_package(package, url, store=store)
    assert store.puts == [] and second.skipped_bytes == first.uploaded_bytes
    assert first.weights_uri.endswith(("/" if prefix else "") + prefix_of(package))
    assert first.weights_uri.startswith(url.rstrip("/").removesuffix("/genai"))


class Recorder:
    """An UploadProgress that writes down every call."""

    def __init__(self):
        self.calls: list[tuple] = []

    def begin(self, files, total_bytes):
        self.calls.append(("begin", files, total_bytes))

    def file(self, key, size):
        self.calls.append(("file", key, size))

    def sent(self, n):
        self.calls.append(("sent", n))

    def synced(self, key, status, size):
        self.calls.append(("synced", key, status, size))

    def end(self):
        self.calls.append(("end",))


def test_progress_is_reported_through_the_protocol(package):
    """The library draws nothing: it tells an UploadProgress what it does, in order."""
    store, progress = MemoryStore(), Recorder()
    assert isinstance(progress, UploadProgress) and isinstance(NoProgress(), UploadProgress)
    items = plan_upload(package)
    upload_package(package, "s3://b-1/p", store=store, progress=progress)
    calls = progress.calls
    assert calls[0] == ("begin", len(items), sum(i.size for i in items)) and calls[-1] == ("end",)
    files = [c for c in calls if c[0] == "file"]
    synced = [c for c in calls if c[0] == "synced"]
    assert [c[1] for c in files] == [f"p/{i.key}" for i in items]  # full keys, manifest last
    assert [c[1:] for c in synced] == [(f"p/{i.key}", "uploaded", i.size) for i in items]
    assert sum(c[1] for c in calls if c[0] == "sent") == sum(i.size for i in items)

    again = Recorder()
    upload_package(package, "s3://b-1/p", store=store, progress=again)
    assert {c[2] for c in again.calls if c[0] == "synced"} == {"skipped"}
    assert not [c for c in again.calls if c[0] == "sent"]


def test_upload_files_reports_each_file_and_its_status(package):
    """What the weights step runs: a listed folder below a key prefix, skip included."""
    items = [i for i in plan_upload(package) if i.kind == "weights"]
    prefix = prefix_of(package)
    files = [(i.key.removeprefix(prefix), i.sha256, i.size) for i in items]
    store, progress = MemoryStore(), Recorder()
    report = upload_files(package / "model", files, prefix, store, progress=progress)
    assert report.uploaded_files == len(items) and set(store.objects) == {i.key for i in items}
    synced = [c[1:] for c in progress.calls if c[0] == "synced"]
    assert synced == [(i.key, "uploaded", i.size) for i in sorted(items, key=lambda i: i.key)]
    second = upload_files(package / "model", files, prefix, store)  # NoProgress by default
    assert second.skipped_files == len(items) and second.uploaded_files == 0


def test_verify_needs_a_store_that_reads_its_objects_back(package):
    from model_packages.upload.errors import UploadError

    with pytest.raises(UploadError, match="MemoryStore cannot read its objects back"):
        upload_package(package, "s3://b-1/p", store=MemoryStore(), verify=True)
