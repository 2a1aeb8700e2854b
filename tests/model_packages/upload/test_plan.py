"""Which files a package uploads, under which keys, in which order."""

from __future__ import annotations

import hashlib
import json

import pytest

from model_packages.upload.errors import PackageError
from model_packages.upload.plan import UploadItem, plan_upload
from tests.model_packages.upload.helpers import (
    BIG,
    expected_keys,
    prefix_of,
    read_manifest,
    write_package,
)


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
