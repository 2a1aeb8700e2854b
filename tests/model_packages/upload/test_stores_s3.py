"""The S3 store against moto in-process: key layout, skip, replace, multipart, streamed
verification, and the small whole-object reads and writes of the output cache."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from model_packages.upload.destinations import parse_destination
from model_packages.upload.errors import HashMismatchError, StoreError
from model_packages.upload.plan import plan_upload
from model_packages.upload.stores.s3 import S3Store
from model_packages.upload.sync import upload_package
from tests.model_packages.upload.helpers import (
    BIG,
    BUCKET,
    PART,
    THRESHOLD,
    expected_keys,
    prefix_of,
    rewrite_weight,
    s3_store,
    sent,
    write_package,
)


def test_s3_first_upload_sends_everything_in_the_layout_with_sha256(s3, package):
    dest = parse_destination(f"s3://{BUCKET}/team/genai")
    report = upload_package(package, dest, store=s3_store(s3))

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
    upload_package(package, f"s3://{BUCKET}", store=store)
    s3.calls.clear()
    report = upload_package(package, f"s3://{BUCKET}", store=store)
    assert report.uploaded_files == 0 and report.uploaded_bytes == 0
    assert report.skipped_files == len(plan_upload(package))
    assert report.replaced == []
    assert sent(s3.calls) == 0  # nothing sent: HEADs only
    assert set(s3.calls) == {"HeadObject"}


def test_s3_changed_file_uploads_only_that_file_and_the_manifest(s3, package):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}/p", store=store)
    rewrite_weight(package, "text_encoder/model.safetensors", os.urandom(123_456))
    s3.calls.clear()

    report = upload_package(package, f"s3://{BUCKET}/p", store=store)

    changed = f"p/{prefix_of(package)}text_encoder/model.safetensors"
    assert report.uploaded_files == 2  # the file, and manifest.json whose bytes changed
    assert report.uploaded_keys[0] == changed
    assert report.uploaded_keys[1].startswith("p/manifests/azureml/")
    assert report.replaced == report.uploaded_keys  # both existed with another sha256
    assert s3.calls["PutObject"] == 2 and s3.calls["UploadPart"] == 0
    assert s3.head_object(Bucket=BUCKET, Key=changed)["ContentLength"] == 123_456


def test_s3_object_with_wrong_bytes_in_the_bucket_is_replaced(s3, package):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}", store=store)
    key = f"{prefix_of(package)}model_index.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")  # same key, other bytes, no metadata

    report = upload_package(package, f"s3://{BUCKET}", store=store)

    assert report.replaced == [key] and report.uploaded_files == 1
    assert (
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        == (package / "model" / "model_index.json").read_bytes()
    )


def test_s3_new_model_gets_a_new_prefix(s3, package, tmp_path, weights):
    store = s3_store(s3)
    upload_package(package, f"s3://{BUCKET}", store=store)
    other = dict(weights, **{"model_index.json": b'{"_class_name": "Other"}'})
    pkg2 = write_package(tmp_path / "out2" / "azureml", other)
    report = upload_package(pkg2, f"s3://{BUCKET}", store=store)
    # new digest → new weights prefix: every file and genai_package.json, then the manifest
    assert report.uploaded_files == len(other) + 2 and report.skipped_files == 0


def test_s3_file_that_does_not_match_the_manifest_aborts_naming_it(s3, package):
    big = package / "model" / BIG
    data = bytearray(big.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: only the streamed hash can tell
    big.write_bytes(bytes(data))

    with pytest.raises(HashMismatchError, match=r"unet/diffusion_pytorch_model\.safetensors"):
        upload_package(package, f"s3://{BUCKET}", store=s3_store(s3))

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
        upload_package(package, f"s3://{BUCKET}", store=s3_store(s3))
    # genai_package.json sorts first and went up; the mismatched file and the manifest did not
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert keys == {f"{prefix_of(package)}genai_package.json"}
    assert s3.calls["PutObject"] == 1


def test_size_change_is_caught_before_anything_is_sent(s3, package):
    (package / "model" / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"short")
    with pytest.raises(HashMismatchError, match="5 bytes on disk but the manifest says 300000"):
        upload_package(package, f"s3://{BUCKET}", store=s3_store(s3))
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

    report = upload_package(out / cloud, f"s3://{BUCKET}/envs", store=store)
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
    again = upload_package(out / cloud, f"s3://{BUCKET}/envs", store=store)
    assert again.uploaded_files == 0 and sent(s3.calls) == 0


def test_s3_store_small_objects_for_the_cache(s3):
    """The output cache's reads and writes: whole objects, sha256 recorded, None when absent."""
    store = s3_store(s3)
    assert store.get_bytes("c/entries/x.json") is None
    store.put_bytes("c/entries/x.json", b"{}")
    assert store.get_bytes("c/entries/x.json") == b"{}"
    head = s3.head_object(Bucket=BUCKET, Key="c/entries/x.json")
    assert head["Metadata"] == {"sha256": hashlib.sha256(b"{}").hexdigest()}
    with pytest.raises(StoreError, match="s3://no-such-bucket/k: NoSuchBucket"):
        S3Store("no-such-bucket", client=s3).get_bytes("k")
