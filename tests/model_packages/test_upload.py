"""`genai-endpoints upload`: key layout, skip logic, streamed verification, multipart.

S3 runs against moto in-process; GCS and Azure run their store classes against in-memory
fakes of the SDK objects they call (no SDK for GCS here, no network for either).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from model_packages.manifest import Manifest
from model_packages.upload import (
    AzureBlobStore,
    Destination,
    DestinationError,
    GCSStore,
    HashMismatchError,
    ObjectStore,
    PackageError,
    RemoteObject,
    S3Store,
    UploadItem,
    VerifiedReader,
    parse_destination,
    plan_upload,
    upload_package,
)

MiB = 1024 * 1024
THRESHOLD = 1 * MiB  # the tests' multipart threshold
PART = 5 * MiB  # S3's smallest part (moto enforces it)
BIG = "unet/diffusion_pytorch_model.safetensors"
BUCKET = "pkg-bucket"


# --------------------------------------------------------------------------- fake package


def _entry(rel: str, data: bytes) -> dict:
    return {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _digest(entries: list[dict]) -> str:
    lines = "\n".join(f"{e['path']} {e['sha256']} {e['size']}" for e in entries)
    return hashlib.sha256(lines.encode()).hexdigest()


def write_package(root: Path, weights: dict[str, bytes], *, cloud: str = "azureml") -> Path:
    """A package folder valid against ``Manifest``, laid out like the builders': model/
    (the weights and genai_package.json) and manifest.json; ``key_prefix`` is the digest
    of the whole model folder."""
    info = json.dumps({"files": sorted(weights)}).encode()
    folder = {**weights, "genai_package.json": info}
    for rel, data in folder.items():
        path = root / "model" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    w_entries = sorted((_entry(r, d) for r, d in weights.items()), key=lambda e: e["path"])
    f_entries = sorted((_entry(r, d) for r, d in folder.items()), key=lambda e: e["path"])
    digest, folder_digest = _digest(w_entries), _digest(f_entries)
    manifest = Manifest.model_validate(
        {
            "cloud": cloud,
            "engine_version": "0.2.0",
            "model": {
                "id": "tiny/t2i",
                "revision": "local-" + digest[:12],
                "digest": digest,
                "size_bytes": sum(e["size"] for e in w_entries),
                "tasks": ["text-to-image"],
                "files": w_entries,
            },
            "weights": {
                "folder": "model",
                "key_prefix": f"models/{folder_digest}/",
                "digest": folder_digest,
                "size_bytes": sum(e["size"] for e in f_entries),
                "files": f_entries,
            },
            "runtime": {
                "dockerfile": "runtime/Dockerfile",
                "lock": "runtime/serve.lock",
                "lock_sha256": "0" * 64,
                "contract": cloud,
                "env": {"GENAI_CONTRACT": cloud},
                "port": 5001,
                "health_route": "/",
                "readiness_route": "/ready",
                "predict_route": "/score",
                "args": [],
            },
            "limits": [
                {
                    "name": "managed",
                    "max_request_bytes": 100_000_000,
                    "max_response_bytes": None,
                    "timeout_s": 180,
                }
            ],
        }
    )
    (root / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    return root


def read_manifest(pkg: Path) -> dict:
    return json.loads((pkg / "manifest.json").read_text())


def rewrite_weight(pkg: Path, rel: str, data: bytes) -> None:
    """Change one weights file and its manifest entry, keeping the model digest/prefix."""
    (pkg / "model" / rel).write_bytes(data)
    manifest = read_manifest(pkg)
    for entry in manifest["model"]["files"] + manifest["weights"]["files"]:
        if entry["path"] == rel:
            entry.update(_entry(rel, data))
    (pkg / "manifest.json").write_text(json.dumps(manifest, indent=2))


@pytest.fixture
def weights() -> dict[str, bytes]:
    rng = __import__("random").Random(7)
    return {
        "model_index.json": b'{"_class_name": "StableDiffusionPipeline", '
        b'"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}',
        "scheduler/scheduler_config.json": b'{"num_train_timesteps": 1000}',
        "text_encoder/model.safetensors": rng.randbytes(200_000),
        "vae/diffusion_pytorch_model.safetensors": rng.randbytes(300_000),
        BIG: rng.randbytes(PART + 300_000),  # > threshold: multipart, two parts
    }


@pytest.fixture
def package(tmp_path, weights) -> Path:
    return write_package(tmp_path / "out" / "azureml", weights)


def expected_keys(pkg: Path, prefix: str = "") -> set[str]:
    m = read_manifest(pkg)
    p = f"{prefix}/" if prefix else ""
    weights = f"{p}{m['weights']['key_prefix']}"
    keys = {f"{weights}{e['path']}" for e in m["weights"]["files"]}
    keys.add(f"{p}manifests/{m['cloud']}/{m['weights']['digest']}.json")
    return keys


def _item(pkg: Path, rel: str) -> UploadItem:
    return next(i for i in plan_upload(pkg) if i.key.endswith("/" + rel))


def prefix_of(pkg: Path) -> str:
    return read_manifest(pkg)["weights"]["key_prefix"]


# --------------------------------------------------------------------------- plan


def test_plan_follows_the_key_layout_and_puts_the_manifest_last(package):
    items = plan_upload(package)
    m = read_manifest(package)
    assert {i.key for i in items} == expected_keys(package)
    assert items[-1] == UploadItem(
        package / "manifest.json",
        f"manifests/azureml/{m['weights']['digest']}.json",
        hashlib.sha256((package / "manifest.json").read_bytes()).hexdigest(),
        (package / "manifest.json").stat().st_size,
        "manifest",
    )
    kinds = [i.kind for i in items]
    assert kinds == sorted(kinds, key=["weights", "manifest"].index)
    big = next(i for i in items if i.key.endswith(BIG))
    assert big.key == f"{prefix_of(package)}{BIG}"  # the model's folder layout is kept
    assert big.local_path == package / "model" / BIG


def test_plan_rejects_missing_or_broken_packages(tmp_path, package):
    with pytest.raises(PackageError, match=r"no manifest\.json"):
        plan_upload(tmp_path)
    with pytest.raises(PackageError, match="not a folder"):
        plan_upload(tmp_path / "nope")
    (package / "model" / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(PackageError, match=r"vae/diffusion_pytorch_model\.safetensors.*missing"):
        plan_upload(package)
    (package / "manifest.json").write_text('{"cloud": "aws"}')
    with pytest.raises(PackageError, match=r"manifest\.json: cloud"):
        plan_upload(package)


def test_plan_rejects_paths_that_escape(tmp_path, weights):
    pkg = write_package(tmp_path / "p", weights)
    m = read_manifest(pkg)
    m["weights"]["files"][0]["path"] = "../../etc/passwd"
    (pkg / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(PackageError, match="not a plain relative POSIX path"):
        plan_upload(pkg)


def test_the_weights_prefix_holds_exactly_the_model_folder(tmp_path, weights):
    """SageMaker, Vertex and Azure ML all read the model folder as it is: no code in it."""
    pkg = write_package(tmp_path / "p", weights)
    keys = {i.key for i in plan_upload(pkg)}
    assert keys == expected_keys(pkg)
    below = {k.removeprefix(prefix_of(pkg)) for k in keys if k.startswith(prefix_of(pkg))}
    assert below == set(weights) | {"genai_package.json"}


def test_unlisted_files_stop_the_upload_but_caches_do_not(tmp_path, weights):
    pkg = write_package(tmp_path / "p", weights)
    (pkg / "model" / ".DS_Store").write_bytes(b"x")
    (pkg / "model" / "__pycache__").mkdir()
    (pkg / "model" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    assert len(plan_upload(pkg)) == len(expected_keys(pkg))
    (pkg / "model" / "unet" / "extra.safetensors").write_bytes(b"x")
    with pytest.raises(PackageError, match=r"unet/extra\.safetensors: in the weights folder"):
        plan_upload(pkg)


# --------------------------------------------------------------------------- S3 (moto)


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3(aws_env):
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        calls: Counter[str] = Counter()
        client.meta.events.register(
            "before-call.s3.*", lambda model, **_: calls.update([model.name])
        )
        client.calls = calls  # type: ignore[attr-defined]
        yield client


def s3_store(client) -> S3Store:
    return S3Store(BUCKET, client=client, multipart_threshold=THRESHOLD, multipart_chunksize=PART)


def sent(calls: Counter[str]) -> int:
    return sum(calls[op] for op in ("PutObject", "UploadPart", "CreateMultipartUpload"))


def test_s3_first_upload_sends_everything_in_the_layout_with_sha256(s3, package):
    dest = parse_destination(f"s3://{BUCKET}/team/genai")
    report = upload_package(package, dest, store=s3_store(s3), progress=True)

    items = plan_upload(package)
    assert report.uploaded_files == len(items) and report.skipped_files == 0
    assert report.uploaded_bytes == sum(i.size for i in items)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == expected_keys(package, "team/genai")
    assert report.weights_uri == f"s3://{BUCKET}/team/genai/{prefix_of(package)}"
    assert report.uploaded_keys[-1].startswith("team/genai/manifests/azureml/")

    for item in items:
        key = f"team/genai/{item.key}"
        head = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert head["ContentLength"] == item.size
        assert head["Metadata"]["sha256"] == item.sha256
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == item.sha256
        if item.size < THRESHOLD:  # single PUT: S3's own SHA256 checksum is the file's
            assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(item.sha256)).decode()

    # the big file went multipart (5 MiB part + remainder); everything else one PUT each
    assert s3.calls["CreateMultipartUpload"] == 1
    assert s3.calls["UploadPart"] == 2
    assert s3.calls["CompleteMultipartUpload"] == 1
    assert s3.calls["PutObject"] == len(items) - 1


def test_s3_second_upload_skips_everything(s3, package):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}", store=store, progress=False)
    s3.calls.clear()
    report = upload_package(package, f"s3://{BUCKET}", store=store, progress=False)
    assert report.uploaded_files == 0 and report.uploaded_bytes == 0
    assert report.skipped_files == len(plan_upload(package))
    assert report.replaced == []
    assert sent(s3.calls) == 0  # nothing sent: HEADs only
    assert set(s3.calls) == {"HeadObject"}


def test_s3_changed_file_uploads_only_that_file_and_the_manifest(s3, package):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}/p", store=store, progress=False)
    rewrite_weight(package, "text_encoder/model.safetensors", os.urandom(123_456))
    s3.calls.clear()

    report = upload_package(package, f"s3://{BUCKET}/p", store=store, progress=False)

    changed = f"p/{prefix_of(package)}text_encoder/model.safetensors"
    assert report.uploaded_files == 2  # the file, and manifest.json whose bytes changed
    assert report.uploaded_keys[0] == changed
    assert report.uploaded_keys[1].startswith("p/manifests/azureml/")
    assert report.replaced == report.uploaded_keys  # both existed with another sha256
    assert s3.calls["PutObject"] == 2 and s3.calls["UploadPart"] == 0
    assert s3.head_object(Bucket=BUCKET, Key=changed)["ContentLength"] == 123_456


def test_s3_object_with_wrong_bytes_in_the_bucket_is_replaced(s3, package):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}", store=store, progress=False)
    key = f"{prefix_of(package)}model_index.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")  # same key, other bytes, no metadata

    report = upload_package(package, f"s3://{BUCKET}", store=store, progress=False)

    assert report.replaced == [key] and report.uploaded_files == 1
    assert (
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        == (package / "model" / "model_index.json").read_bytes()
    )


def test_s3_new_model_gets_a_new_prefix(s3, package, tmp_path, weights):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}", store=store, progress=False)
    other = dict(weights, **{"model_index.json": b'{"_class_name": "Other"}'})
    pkg2 = write_package(tmp_path / "out2" / "azureml", other)
    report = upload_package(pkg2, f"s3://{BUCKET}", store=store, progress=False)
    # new digest → new weights prefix: every file and genai_package.json, then the manifest
    assert report.uploaded_files == len(other) + 2 and report.skipped_files == 0


def test_s3_file_that_does_not_match_the_manifest_aborts_naming_it(s3, package):
    big = package / "model" / BIG
    data = bytearray(big.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the streamed hash can tell
    big.write_bytes(bytes(data))

    with pytest.raises(HashMismatchError, match=r"unet/diffusion_pytorch_model\.safetensors"):
        upload_package(package, f"s3://{BUCKET}", store=s3_store(s3), progress=False)

    # nothing that looks complete: no such object, multipart aborted, manifest not sent
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert not any(k.endswith(BIG) for k in keys)
    assert not any(k.startswith("manifests/") for k in keys)
    assert s3.calls["CreateMultipartUpload"] == 1 and s3.calls["AbortMultipartUpload"] == 1
    assert s3.calls["CompleteMultipartUpload"] == 0
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_s3_small_file_mismatch_sends_no_object(s3, package):
    path = package / "model" / "model_index.json"
    path.write_bytes(path.read_bytes().upper())  # same size
    with pytest.raises(HashMismatchError, match=r"model_index\.json: sha256"):
        upload_package(package, f"s3://{BUCKET}", store=s3_store(s3), progress=False)
    # genai_package.json sorts first and went up; the mismatched file and the manifest did not
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert keys == {f"{prefix_of(package)}genai_package.json"}
    assert s3.calls["PutObject"] == 1


def test_size_change_is_caught_before_anything_is_sent(s3, package):
    (package / "model" / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"short")
    with pytest.raises(HashMismatchError, match="5 bytes on disk but the manifest says 300000"):
        upload_package(package, f"s3://{BUCKET}", store=s3_store(s3), progress=False)
    assert sum(s3.calls.values()) == 0


def test_s3_progress_callback_counts_every_byte(s3, tmp_path):
    data = os.urandom(PART + 1000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    seen: list[int] = []
    s3_store(s3).put("k", path, hashlib.sha256(data).hexdigest(), len(data), seen.append)
    assert sum(seen) == len(data)


@pytest.mark.parametrize("cloud", ["sagemaker", "vertex", "azureml"])
def test_packages_from_the_real_builder_upload_as_their_serving_folders(s3, tmp_path, cloud):
    """A package built by model_packages.build from a fake model folder: its weights prefix
    holds exactly the serving folder that its digest names; a second upload sends nothing."""
    from model_packages.build import build_packages
    from model_packages.staging import list_files, stage_local, tree_digest

    src = tmp_path / "tiny"
    for rel, data in {
        "model_index.json": b'{"_class_name": "StableDiffusionPipeline", '
        b'"unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}',
        "unet/config.json": b"{}",
        "unet/diffusion_pytorch_model.safetensors": os.urandom(50_000),
        "vae/diffusion_pytorch_model.safetensors": os.urandom(20_000),
    }.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = tmp_path / "out"
    manifest = build_packages(stage_local(src), [cloud], out)[cloud]
    store = s3_store(s3)

    report = upload_package(out / cloud, f"s3://{BUCKET}/envs", store=store, progress=False)
    prefix = f"envs/{manifest.weights.key_prefix}"
    assert report.weights_uri == f"s3://{BUCKET}/{prefix}"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    serving = list_files(out / cloud / manifest.weights.folder)
    assert sorted(o["Key"].removeprefix(prefix) for o in listed) == [f.path for f in serving]
    assert f"models/{tree_digest(serving)}/" == manifest.weights.key_prefix
    for f in serving:
        head = s3.head_object(Bucket=BUCKET, Key=prefix + f.path)
        assert head["Metadata"]["sha256"] == f.sha256

    s3.calls.clear()
    again = upload_package(out / cloud, f"s3://{BUCKET}/envs", store=store, progress=False)
    assert again.uploaded_files == 0 and sent(s3.calls) == 0


# --------------------------------------------------------------------------- verified reader


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


# --------------------------------------------------------------------------- GCS (fake SDK)


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
    report = upload_package(package, "gs://my-bucket/envs/dev", store=store, progress=False)

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
    again = upload_package(package, "gs://my-bucket/envs/dev", store=store, progress=False)
    assert again.uploaded_files == 0 and bucket.uploads == []

    key = f"envs/dev/{prefix_of(package)}model_index.json"
    bucket.objects[key] = (b"{}", {"sha256": "0" * 64})
    third = upload_package(package, "gs://my-bucket/envs/dev", store=store, progress=False)
    assert third.replaced == [key] and [name for name, _ in bucket.uploads] == [key]


def test_gcs_store_mismatch_leaves_no_object(package):
    client = FakeGCSClient()
    store = GCSStore("my-bucket", client=client, resumable_threshold=THRESHOLD, chunk_size=MiB)
    big = package / "model" / BIG
    big.write_bytes(big.read_bytes()[:-1] + b"\x00")
    with pytest.raises(HashMismatchError, match=r"diffusion_pytorch_model\.safetensors"):
        upload_package(package, "gs://my-bucket", store=store, progress=False)
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


# --------------------------------------------------------------------------- Azure (fake SDK)


@dataclass
class FakeBlobProperties:
    size: int
    metadata: dict


class FakeBlobClient:
    def __init__(self, container: FakeContainerClient, name: str):
        self.container = container
        self.name = name

    def get_blob_properties(self):
        from azure.core.exceptions import ResourceNotFoundError

        if self.name not in self.container.blobs:
            raise ResourceNotFoundError("The specified blob does not exist.")
        data, metadata = self.container.blobs[self.name]
        return FakeBlobProperties(len(data), metadata)

    def upload_blob(self, data, length, overwrite, metadata, max_concurrency, progress_hook):
        # like azure-storage-blob: one read up to max_single_put_size, else staged blocks
        # that become the blob only when the block list is committed
        assert overwrite
        c = self.container
        step = length if length <= c.max_single_put_size else c.max_block_size
        blocks = []
        while sum(map(len, blocks)) < length:
            blocks.append(data.read(min(step, length - sum(map(len, blocks)))))
            progress_hook(sum(map(len, blocks)), length)
        c.uploads.append((self.name, len(blocks)))
        c.blobs[self.name] = (b"".join(blocks), dict(metadata))  # commit


class FakeContainerClient:
    def __init__(self, max_single_put_size: int, max_block_size: int):
        self.blobs: dict[str, tuple[bytes, dict]] = {}
        self.uploads: list[tuple[str, int]] = []
        self.max_single_put_size = max_single_put_size
        self.max_block_size = max_block_size

    def get_blob_client(self, name):
        return FakeBlobClient(self, name)


AZ_URL = (
    "azureml://subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/rg-ml"
    "/workspaces/ws-dev/datastores/workspaceblobstore/paths/genai"
)


def test_azure_store_layout_metadata_blocks_and_skip(package):
    container = FakeContainerClient(max_single_put_size=THRESHOLD, max_block_size=MiB)
    dest = parse_destination(AZ_URL)
    store = AzureBlobStore(
        dest.subscription, dest.resource_group, dest.workspace, dest.bucket,
        container_client=container,
    )  # fmt: skip
    seen: list[int] = []
    report = upload_package(package, dest, store=store, progress=False)

    assert set(container.blobs) == expected_keys(package, "genai")
    for item in plan_upload(package):
        data, metadata = container.blobs[f"genai/{item.key}"]
        assert metadata == {"sha256": item.sha256} and len(data) == item.size
        assert hashlib.sha256(data).hexdigest() == item.sha256
    blocks = dict(container.uploads)
    assert max(blocks.values()) == 6 and sorted(blocks.values())[-2] == 1  # big one in blocks
    assert report.weights_uri == f"{AZ_URL}/{prefix_of(package)}"

    container.uploads.clear()
    again = upload_package(package, dest, store=store, progress=False)
    assert again.uploaded_files == 0 and container.uploads == []

    key = f"genai/{prefix_of(package)}{BIG}"
    data, metadata = container.blobs[key]
    container.blobs[key] = (data[:-1], metadata)  # a size mismatch is uploaded again
    third = upload_package(package, dest, store=store, progress=False)
    assert third.replaced == [key] and [n for n, _ in container.uploads] == [key]

    index = _item(package, "model_index.json")
    store.put("x", index.local_path, index.sha256, index.size, seen.append)
    assert sum(seen) == (package / "model" / "model_index.json").stat().st_size


def test_azure_store_mismatch_commits_nothing(package):
    container = FakeContainerClient(max_single_put_size=THRESHOLD, max_block_size=MiB)
    store = AzureBlobStore("s", "rg", "ws", "ds", container_client=container)
    big = package / "model" / BIG
    big.write_bytes(b"\x00" + big.read_bytes()[1:])
    with pytest.raises(HashMismatchError, match=r"diffusion_pytorch_model\.safetensors"):
        upload_package(package, AZ_URL, store=store, progress=False)
    assert not any(k.endswith(BIG) for k in container.blobs)


class FakeBlobService:
    """Just enough of the Blob REST API (HEAD, Put Blob, Put Block, Put Block List) to run
    the real azure-storage-blob client over ``responses``: blocks are invisible until their
    block list is committed, as on Azure."""

    def __init__(self):
        self.blobs: dict[str, tuple[bytes, dict]] = {}
        self.staged: dict[tuple[str, str], bytes] = {}
        self.log: list[tuple[str, str | None]] = []

    def __call__(self, request):
        from urllib.parse import parse_qs, urlparse

        url = urlparse(request.url)
        name = url.path.split("/", 2)[2]
        comp = parse_qs(url.query).get("comp", [None])[0]
        self.log.append((request.method, comp))
        if request.method == "HEAD":
            if name not in self.blobs:
                return 404, {"x-ms-error-code": "BlobNotFound"}, b""
            data, meta = self.blobs[name]
            headers = {"Content-Length": str(len(data)), "x-ms-blob-type": "BlockBlob"}
            return 200, headers | {f"x-ms-meta-{k}": v for k, v in meta.items()}, b""
        body = request.body.read() if hasattr(request.body, "read") else request.body or b""
        body = body.encode() if isinstance(body, str) else body
        meta = {
            k.lower().removeprefix("x-ms-meta-"): v
            for k, v in request.headers.items()
            if k.lower().startswith("x-ms-meta-")
        }
        if comp == "block":
            block_id = parse_qs(url.query)["blockid"][0]
            self.staged[(name, block_id)] = body
        elif comp == "blocklist":
            ids = re.findall(rb"<(?:Latest|Uncommitted|Committed)>([^<]+)<", body)
            data = b"".join(self.staged[(name, i.decode())] for i in ids)
            self.blobs[name] = (data, meta)
        else:
            self.blobs[name] = (body, meta)
        return 201, {}, b""


def test_azure_store_with_the_real_sdk_over_a_fake_blob_service(package):
    """The real ContainerClient: one Put Blob up to max_single_put_size, else staged blocks
    and one commit; a mismatching file stages blocks but never commits a blob."""
    import responses
    from azure.storage.blob import ContainerClient

    service = FakeBlobService()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        blob_url = re.compile(r"https://acct\.blob\.core\.windows\.net/ctr/.*")
        mock.add_callback(responses.HEAD, blob_url, callback=service)
        mock.add_callback(responses.PUT, blob_url, callback=service)
        container = ContainerClient(
            "https://acct.blob.core.windows.net",
            "ctr",
            max_single_put_size=THRESHOLD,
            max_block_size=MiB,
        )
        store = AzureBlobStore("s", "rg", "ws", "ds", container_client=container)
        report = upload_package(package, AZ_URL, store=store, progress=False)

        assert set(service.blobs) == expected_keys(package, "genai")
        for item in plan_upload(package):
            data, meta = service.blobs[f"genai/{item.key}"]
            assert meta == {"sha256": item.sha256}
            assert hashlib.sha256(data).hexdigest() == item.sha256
        ops = Counter(service.log)
        assert ops[("PUT", "blocklist")] == 1  # the big file: blocks, then one commit
        assert ops[("PUT", "block")] == -(-(PART + 300_000) // MiB)
        assert ops[("PUT", None)] == report.uploaded_files - 1

        service.log.clear()
        again = upload_package(package, AZ_URL, store=store, progress=False)
        assert again.uploaded_files == 0 and {m for m, _ in service.log} == {"HEAD"}

        big = package / "model" / BIG
        want = next(i for i in plan_upload(package) if i.local_path == big)
        big.write_bytes(big.read_bytes()[:-1] + b"\x00")  # same size, other bytes
        service.log.clear()
        with pytest.raises(HashMismatchError, match=r"diffusion_pytorch_model\.safetensors"):
            store.put("genai/bad", big, want.sha256, want.size, lambda n: None)
        assert "genai/bad" not in service.blobs
        assert ("PUT", "block") in service.log and ("PUT", "blocklist") not in service.log


# --------------------------------------------------------------------------- protocol fake


class MemoryStore:
    """The smallest ObjectStore: what any new store must do for the uploader."""

    def __init__(self):
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.puts: list[str] = []

    def head(self, key):
        if key not in self.objects:
            return None
        data, sha = self.objects[key]
        return RemoteObject(len(data), sha)

    def put(self, key, path, sha256, size, progress_cb):
        buf = io.BytesIO()
        with VerifiedReader(path, sha256, size) as reader:
            while chunk := reader.read(64 * 1024):
                buf.write(chunk)
                progress_cb(len(chunk))
        self.objects[key] = (buf.getvalue(), sha256)
        self.puts.append(key)


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
    first = upload_package(package, url, store=store, progress=False)
    assert set(store.objects) == expected_keys(package, prefix)
    assert first.uploaded_files == len(store.puts) == len(expected_keys(package))
    store.puts.clear()
    second = upload_package(package, url, store=store, progress=False)
    assert store.puts == [] and second.skipped_bytes == first.uploaded_bytes
    assert first.weights_uri.endswith(("/" if prefix else "") + prefix_of(package))
    assert first.weights_uri.startswith(url.rstrip("/").removesuffix("/genai"))


# --------------------------------------------------------------------------- destinations


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://my-bucket", Destination("s3", "my-bucket")),
        ("s3://my-bucket/", Destination("s3", "my-bucket")),
        ("S3://my.bucket.1/a/b/", Destination("s3", "my.bucket.1", "a/b")),
        ("gs://my_bucket/envs/prod", Destination("gs", "my_bucket", "envs/prod")),
        (
            "azureml://subscriptions/sub-1/resourceGroups/rg_1/workspaces/ws-1"
            "/datastores/workspaceblobstore/paths/pkgs/v1/",
            Destination("azureml", "workspaceblobstore", "pkgs/v1", "sub-1", "rg_1", "ws-1"),
        ),
        (
            "azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/d",
            Destination("azureml", "d", "", "s", "r", "w"),
        ),
    ],
)
def test_parse_good_destinations(url, expected):
    assert parse_destination(url) == expected


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "not a URL"),
        ("my-bucket/path", "not a URL"),
        ("http://my-bucket/x", "unknown scheme"),
        ("s3://", "not a valid bucket name"),
        ("s3://My-Bucket", "not a valid bucket name"),
        ("s3://ab", "not a valid bucket name"),
        ("s3://a..b", "not a valid bucket name"),
        ("s3://my_bucket", "not a valid bucket name"),
        ("s3://bucket//x", "empty path segment"),
        ("s3://bucket/a/../b", "'..'"),
        ("gs://bucket/a b", "may hold only"),
        ("gs://bucket/x?y=1", "query strings"),
        ("azureml://datastores/workspaceblobstore/paths/x", "long form"),
        ("azureml://subscriptions/s/resourcegroups/r/workspaces/w", "not an Azure ML"),
        ("azureml://subscriptions//resourcegroups/r/workspaces/w/datastores/d", "subscription"),
    ],
)
def test_parse_bad_destinations_name_the_url_and_the_forms(url, why):
    with pytest.raises(DestinationError) as info:
        parse_destination(url)
    assert why in info.value.message
    assert repr(url) in info.value.message
    assert "s3://BUCKET[/PREFIX]" in info.value.message


_schemes = st.sampled_from(
    ["", "s3://", "gs://", "azureml://", "S3://", "azureml://subscriptions/"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=_schemes, tail=st.text(max_size=80))
def test_parse_destination_fuzz_raises_only_destination_error(head, tail):
    try:
        dest = parse_destination(head + tail)
    except DestinationError as exc:
        assert exc.message.startswith("destination ")
        return
    # whatever parses gives keys with no empty, '.' or '..' segments
    key = dest.key("models/x/")
    assert all(seg not in ("", ".", "..") for seg in key.split("/")[:-1])
    assert parse_destination(dest.uri()) == dest


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_parse_destination_rejects_non_strings(value):
    with pytest.raises(DestinationError):
        parse_destination(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the command


@pytest.fixture
def cli():
    from genai_endpoints.upload_cmd import upload

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("upload")(upload)
    app.command("noop")(lambda: None)  # two commands: `upload` stays a subcommand
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["upload", *map(str, args)], catch_exceptions=False)

    return run


def test_cli_uploads_and_summarises(cli, s3, package):
    result = cli("--package", package, "--to", f"s3://{BUCKET}/cli")
    assert result.exit_code == 0, result.output
    n = len(plan_upload(package))
    assert f"uploaded {n} files" in result.stdout and "skipped 0 files / 0.0 MB" in result.stdout
    assert f"weights URI: s3://{BUCKET}/cli/{prefix_of(package)}" in result.stdout
    again = cli("--package", package, "--to", f"s3://{BUCKET}/cli")
    assert again.exit_code == 0 and f"uploaded 0 files / 0.0 MB, skipped {n} files" in again.stdout


def _one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_cli_user_errors_are_one_line_and_exit_2(cli, s3, package, tmp_path):
    _one_line_error(cli("--package", package, "--to", "ftp://x/y"), "'ftp://x/y'", "s3://")
    _one_line_error(cli("--package", tmp_path, "--to", f"s3://{BUCKET}"), "no manifest.json")
    path = package / "model" / "model_index.json"
    path.write_bytes(path.read_bytes().upper())
    _one_line_error(cli("--package", package, "--to", f"s3://{BUCKET}"), "model_index.json")


def test_cli_without_aws_credentials_exits_2(cli, package, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    result = cli("--package", package, "--to", f"s3://{BUCKET}")
    _one_line_error(result, "no AWS credentials")
    assert "testing" not in result.output


# --------------------------------------------------------------------------- Azure resolution


@dataclass
class FakeDatastore:  # the attributes azure-ai-ml's AzureBlobDatastore carries
    name: str
    account_name: str
    container_name: str | None = None
    endpoint: str = "core.windows.net"
    protocol: str = "https"


@pytest.fixture
def fake_ml_client(monkeypatch):
    """``azure.ai.ml.MLClient`` replaced: ``datastores.get`` answers from a dict. (A fake
    module, so these tests run even where azure-ai-ml itself does not import.)"""
    import sys
    import types

    import azure.identity

    stores: dict = {}
    made: list[dict] = []

    class FakeMLClient:
        def __init__(self, credential, **kwargs):
            made.append(kwargs)
            self.datastores = self

        def get(self, name):
            value = stores[name]
            if isinstance(value, Exception):
                raise value
            return value

    module = types.ModuleType("azure.ai.ml")
    module.MLClient = FakeMLClient  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.ai.ml", module)

    class FakeCredential:  # a TokenCredential that is never asked for a token here
        def get_token(self, *scopes, **kwargs):
            raise AssertionError("no network in tests")

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", FakeCredential)
    return stores, made


def test_azure_store_resolves_the_datastore_to_its_container(fake_ml_client):
    stores, made = fake_ml_client
    stores["workspaceblobstore"] = FakeDatastore(
        "workspaceblobstore", account_name="acct123", container_name="azureml-blobstore-x"
    )
    dest = parse_destination(AZ_URL)
    store = AzureBlobStore(
        dest.subscription, dest.resource_group, dest.workspace, dest.bucket,
        max_single_put_size=THRESHOLD, max_block_size=MiB,
    )  # fmt: skip
    container = store.container  # real azure-storage-blob clients; nothing is called yet
    assert made == [
        {
            "subscription_id": "00000000-1111-2222-3333-444444444444",
            "resource_group_name": "rg-ml",
            "workspace_name": "ws-dev",
        }
    ]
    assert container.container_name == "azureml-blobstore-x"
    assert container.url.startswith("https://acct123.blob.core.windows.net/azureml-blobstore-x")
    assert container._config.max_single_put_size == THRESHOLD
    assert container._config.max_block_size == MiB


def test_azure_store_turns_sdk_failures_into_one_line_errors(fake_ml_client):
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    from model_packages.upload import CredentialsError, StoreError

    stores, _ = fake_ml_client
    stores["nologin"] = ClientAuthenticationError("DefaultAzureCredential failed to retrieve")
    stores["missing"] = ResourceNotFoundError("not found")
    stores["files"] = FakeDatastore("files", account_name="a")  # a file share: no container
    with pytest.raises(CredentialsError, match="no usable Azure credentials"):
        AzureBlobStore("s", "rg", "ws", "nologin").head("k")
    with pytest.raises(StoreError, match="datastore 'missing' of workspace 'ws' not found"):
        AzureBlobStore("s", "rg", "ws", "missing").head("k")
    with pytest.raises(StoreError, match="FakeDatastore; only blob and ADLS Gen2"):
        AzureBlobStore("s", "rg", "ws", "files").head("k")
