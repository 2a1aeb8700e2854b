"""The upload against the real storage emulators (moto server, fake-gcs-server, Azurite),
each through the project's store and checked through the cloud's own SDK: the layout and
the sha256 metadata, the skip, damaged objects (replaced by default when their size or
metadata differs, under ``--verify`` when only their bytes do), and the command's report."""

from __future__ import annotations

import hashlib

from typer.testing import CliRunner

from model_packages.upload import parse_destination, plan_upload, store_for, upload_package
from tests.model_packages.upload.helpers import BIG, expected_keys


def _upload(bucket, package, **kwargs):
    with bucket.environment():
        store = store_for(parse_destination(f"{bucket.url}/p"))
        return upload_package(package, f"{bucket.url}/p", store=store, **kwargs)


def _key(package, rel: str) -> str:
    return next(f"p/{i.key}" for i in plan_upload(package) if i.key.endswith("/" + rel))


def test_upload_then_skip(bucket, package):
    first = _upload(bucket, package)
    objects = bucket.objects()
    assert set(objects) == expected_keys(package, "p")
    for item in plan_upload(package):
        assert hashlib.sha256(objects[f"p/{item.key}"]).hexdigest() == item.sha256
    second = _upload(bucket, package)
    assert second.uploaded_files == 0 and second.skipped_files == first.uploaded_files
    assert second.skipped_bytes == first.uploaded_bytes and bucket.unfinished() == []


def test_same_size_other_bytes_is_trusted_by_default_and_replaced_under_verify(bucket, package):
    _upload(bucket, package)
    key = _key(package, BIG)
    good = bucket.objects()[key]
    bad = bytes([good[0] ^ 1]) + good[1:]
    bucket.write(key, bad, sha256=hashlib.sha256(good).hexdigest())  # metadata still "right"

    trusting = _upload(bucket, package)
    assert trusting.uploaded_files == 0 and bucket.objects()[key] == bad  # the fast default

    verified = _upload(bucket, package, verify=True)
    assert verified.replaced == [key] and verified.uploaded_files == 1
    assert verified.verified_files == len(plan_upload(package)) - 1
    assert bucket.objects()[key] == good

    again = _upload(bucket, package, verify=True)
    assert again.replaced == [] and again.verified_files == len(plan_upload(package))


def test_wrong_size_or_wrong_metadata_is_replaced_by_default(bucket, package):
    _upload(bucket, package)
    big, small = _key(package, BIG), _key(package, "model_index.json")
    objects = bucket.objects()
    bucket.write(big, objects[big][:-1])  # one byte short, its own (consistent) sha256
    bucket.write(small, objects[small], sha256="0" * 64)  # right bytes, wrong metadata
    report = _upload(bucket, package)
    assert sorted(report.replaced) == sorted([big, small]) and report.uploaded_files == 2
    assert bucket.objects() == objects


def test_the_command_reports_what_it_verified_and_replaced(bucket, package):
    from genai_endpoints.cli import app

    _upload(bucket, package)
    key = _key(package, "model_index.json")
    good = bucket.objects()[key]
    bucket.write(key, good.upper(), sha256=hashlib.sha256(good).hexdigest())
    n = len(plan_upload(package))
    with bucket.environment():
        args = ["upload", "--package", str(package), "--to", f"{bucket.url}/p", "--verify"]
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"replaced {key} (its size, sha256 or bytes differed)" in result.stdout
    assert f"verified {n - 1} files" in result.stdout and "replaced 1\n" in result.stdout
    assert bucket.objects()[key] == good
