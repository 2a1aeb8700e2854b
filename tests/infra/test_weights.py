"""The weights upload step of `pulumi up`: the dynamic provider over model_packages.upload,
against an in-memory store, and its place in each cloud's graph."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from infra.weights import WeightsUploadProvider
from model_packages.upload import RemoteObject, StoreError
from tests.infra.helpers import FIXTURE_PACKAGES, STACK_FILES, stack_result

MANIFEST = json.loads((FIXTURE_PACKAGES / "sagemaker" / "manifest.json").read_text())
STACKS = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


class MemoryStore:
    """An object store in a dict, recording what was put (reads the file like the SDKs)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[int, str]] = {}
        self.puts: list[str] = []
        self.deny = 0  # answer this many puts with 403 (role assignment not yet effective)

    def head(self, key):
        if key not in self.objects:
            return None
        size, sha = self.objects[key]
        return RemoteObject(size, sha)

    def put(self, key, path, sha256, size, progress_cb):
        from model_packages.upload import VerifiedReader

        if self.deny:
            self.deny -= 1
            raise StoreError(f"s3://b/{key}: AccessDenied: 403")
        with VerifiedReader(path, sha256, size) as reader:
            data = reader.read()
        progress_cb(len(data))
        self.objects[key] = (len(data), hashlib.sha256(data).hexdigest())
        self.puts.append(key)


def props(folder, **changes):
    w = MANIFEST["weights"]
    p = {
        "store": {"kind": "s3", "bucket": "b", "region": "us-east-1"},
        "uri": f"s3://b/{w['key_prefix']}",
        "key_prefix": w["key_prefix"],
        "digest": w["digest"],
        # numbers come back from the engine as floats
        "files": [{**f, "size": float(f["size"])} for f in w["files"]],
        "folder": str(folder),
        "project_dir": "/nowhere",
    }
    p.update(changes)
    return p


@pytest.fixture
def store():
    return MemoryStore()


def provider(store, **kw):
    return WeightsUploadProvider(store_factory=lambda spec: store, **kw)


FOLDER = FIXTURE_PACKAGES / "sagemaker" / "model"


def test_create_uploads_every_file_under_the_prefix_then_skips_them(store, monkeypatch):
    import pulumi

    logged: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda msg, *a, **k: logged.append(msg))
    outs = provider(store).create(props(FOLDER)).outs
    prefix = MANIFEST["weights"]["key_prefix"]
    assert sorted(store.puts) == sorted(prefix + f["path"] for f in MANIFEST["weights"]["files"])
    assert (
        outs["uploaded_files"] == len(MANIFEST["weights"]["files"]) and outs["skipped_files"] == 0
    )
    err = "\n".join(logged)
    assert "weights: uploaded" in err and "100 %" in err  # progress on the provider's log
    store.puts.clear()
    outs = provider(store).update("x", outs, props(FOLDER)).outs
    assert store.puts == [] and outs["skipped_files"] == len(MANIFEST["weights"]["files"])


def test_files_already_there_need_no_local_copy(store, tmp_path):
    provider(store).create(props(FOLDER))
    store.puts.clear()
    provider(store).create(props(tmp_path / "not-here"))  # a machine without the package
    assert store.puts == []


def test_bytes_that_differ_from_the_list_never_become_an_object(store, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(FOLDER, folder)
    path = folder / "model_index.json"
    path.write_bytes(b"X" * path.stat().st_size)  # same size, other bytes
    with pytest.raises(RuntimeError) as info:
        provider(store).create(props(folder))
    assert "does not match the manifest" in str(info.value) and "rebuild" in str(info.value)
    assert not any(k.endswith("model_index.json") for k in store.objects)


def test_a_missing_file_not_in_the_bucket_is_one_clear_error(store, tmp_path):
    with pytest.raises(RuntimeError) as info:
        provider(store).create(props(tmp_path / "empty"))
    msg = str(info.value)
    assert msg.startswith("weights upload to s3://b/models/") and "not yet at" in msg


def test_access_denied_is_waited_out_while_roles_propagate(store):
    store.deny = 2
    outs = provider(store, retry_s=5, poll_s=0).create(props(FOLDER)).outs
    assert outs["uploaded_files"] == len(MANIFEST["weights"]["files"])
    store2 = MemoryStore()
    store2.deny = 10_000
    with pytest.raises(RuntimeError, match="AccessDenied"):
        provider(store2, retry_s=0, poll_s=0).create(props(FOLDER))


def test_diff_looks_at_the_content_not_at_where_the_package_lies(store):
    p = provider(store)
    old = props(FOLDER)
    assert not p.diff("x", old, props("/elsewhere", project_dir="/other")).changes
    assert p.diff("x", old, props(FOLDER, store={"kind": "s3", "bucket": "c"})).changes
    other = "0" * 64
    changed = p.diff("x", old, props(FOLDER, digest=other, key_prefix=f"models/{other}/"))
    assert changed.changes and not changed.replaces


def test_check_refuses_a_prefix_that_is_not_the_digest_and_credentials(store):
    result = provider(store).check({}, props(FOLDER, key_prefix="models/x/", access_token="t"))
    assert {f.property for f in result.failures} == {"key_prefix", "access_token"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_cloud_uploads_the_list_and_its_model_waits_for_it(stack):
    result = stack_result(stack)
    uploads = {r["name"]: r for r in result.by_type("pulumi-python:dynamic/weights:Upload")}
    models = {
        "sagemaker-weights": "sagemaker-model",
        "vertex-weights": "vertex-deployment",
        "azureml-weights": "azureml-model",
    }
    assert uploads
    for upload, model in models.items():
        if upload not in uploads:
            continue
        inputs = uploads[upload]["inputs"]
        assert set(inputs) >= {"store", "key_prefix", "digest", "files", "folder"}
        assert all(set(f) == {"path", "sha256", "size"} for f in inputs["files"])
        assert upload in result.named(model)["depends_on"]
    # no resource carries file contents or a file asset: nothing goes through asset hashing
    assert '"file_asset"' not in json.dumps([r["inputs"] for r in result.resources])


def test_the_step_builds_each_cloud_store_from_its_spec(monkeypatch):
    """The Azure step knows its account and container: a plain blob store, no datastore."""
    from model_packages.upload.stores import AzureBlobStore, S3Store

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    p = WeightsUploadProvider()
    s3 = p._store({"kind": "s3", "bucket": "b", "region": "eu-west-1"})
    assert isinstance(s3, S3Store) and s3.bucket == "b"
    assert s3.client.meta.region_name == "eu-west-1"
    url = "https://acct.blob.core.windows.net"
    blob = p._store({"kind": "azureblob", "account_url": url, "container": "packages"})
    assert isinstance(blob, AzureBlobStore)
    assert blob.container.url == f"{url}/packages" and "'packages'" in blob.where
    with pytest.raises(RuntimeError, match="unknown store kind 'ftp'"):
        p._store({"kind": "ftp"})


def test_serialized_provider_uploads_without_the_project(tmp_path):
    """Pulumi runs the provider from its serialized form in another process, where `infra`
    cannot be imported: the progress reporter travels with it."""
    from pulumi.dynamic.dynamic import serialize_provider

    from tests.infra.helpers import run_unpickled

    blob = serialize_provider(WeightsUploadProvider(retry_s=0, poll_s=0))
    checks = (
        "import hashlib, json\n"
        "from model_packages.upload import RemoteObject, VerifiedReader\n"
        "class Store:\n"
        "    objects = {}\n"
        "    def head(self, key):\n"
        "        return self.objects.get(key)\n"
        "    def put(self, key, path, sha256, size, progress_cb):\n"
        "        with VerifiedReader(path, sha256, size) as r:\n"
        "            data = r.read()\n"
        "        progress_cb(len(data))\n"
        "        self.objects[key] = RemoteObject(len(data), hashlib.sha256(data).hexdigest())\n"
        "p.store_factory = lambda spec: Store()\n"
        f"props = json.loads({json.dumps(json.dumps(props(FOLDER)))})\n"
        "outs = p.create(props).outs\n"
        "print('uploaded', outs['uploaded_files'])\n"
    )
    out = run_unpickled(blob, checks, tmp_path)
    assert f"uploaded {len(MANIFEST['weights']['files'])}" in out
