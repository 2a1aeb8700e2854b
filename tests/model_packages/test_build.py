"""Packages: layout per cloud, manifest, byte-identical rebuilds, no weight copies."""

from __future__ import annotations

import filecmp
import json
import os

import pytest

from model_packages.build import CLOUDS, build_packages
from model_packages.manifest import Manifest
from model_packages.staging import StagingError, stage_hub, stage_local


@pytest.fixture(scope="module")
def packages(tiny_image_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("packages")
    manifests = build_packages(stage_local(tiny_image_model), list(CLOUDS), out)
    return out, manifests


def test_each_cloud_has_its_entry_point_and_manifest(packages):
    out, manifests = packages
    assert (out / "sagemaker/model/code/inference.py").is_file()
    assert (out / "sagemaker/model/code/requirements.txt").is_file()
    assert (out / "sagemaker/model/model_index.json").is_file()
    assert (out / "vertex/model/handler.py").is_file()
    assert (out / "vertex/model/model_index.json").is_file()
    assert (out / "azureml/code/score.py").is_file()
    assert (out / "azureml/environment/conda.yaml").is_file()
    assert (out / "azureml/model/model_index.json").is_file()
    for cloud in CLOUDS:
        manifest = Manifest.model_validate_json((out / cloud / "manifest.json").read_text())
        assert manifest == manifests[cloud]
        assert manifest.model.revision.startswith("local-")
        assert manifest.weights.key_prefix == f"models/{manifest.weights.key_prefix[7:-1]}/"
        assert all(len(f.sha256) == 64 for f in manifest.model.files)
        assert manifest.limits


def test_manifest_pins_image_and_limits(packages):
    _, m = packages
    assert m["sagemaker"].serving.image.startswith("763104351884.dkr.ecr.us-east-1.amazonaws.com/")
    assert "huggingface-pytorch-inference" in m["sagemaker"].serving.image
    assert {lim.name: lim.timeout_s for lim in m["sagemaker"].limits} == {
        "realtime": 60,
        "async": 3600,
    }
    assert {lim.name: lim.max_request_bytes for lim in m["vertex"].limits} == {
        "shared": 1_500_000,
        "dedicated": 10_000_000,
    }
    assert m["azureml"].limits[0].timeout_s == 180
    assert m["sagemaker"].serving.env["SAGEMAKER_PROGRAM"] == "inference.py"
    assert any(r.startswith("diffusers==") for r in m["vertex"].serving.requirements)


def test_rebuild_is_byte_identical(packages, tiny_image_model, tmp_path):
    out, _ = packages
    again = tmp_path / "again"
    build_packages(stage_local(tiny_image_model), list(CLOUDS), again)
    for cloud in CLOUDS:
        cmp = filecmp.dircmp(out / cloud, again / cloud)
        assert _identical(cmp), cloud
        assert (out / cloud / "manifest.json").read_bytes() == (
            again / cloud / "manifest.json"
        ).read_bytes()


def test_weights_are_hard_linked_not_copied(packages, tiny_image_model):
    out, _ = packages
    src = tiny_image_model / "unet" / "diffusion_pytorch_model.safetensors"
    for cloud in CLOUDS:
        dst = out / cloud / "model" / "unet" / "diffusion_pytorch_model.safetensors"
        assert os.stat(src).st_ino == os.stat(dst).st_ino


def test_tarball_is_deterministic(tiny_image_model, tmp_path):
    staged = stage_local(tiny_image_model)
    build_packages(staged, ["sagemaker"], tmp_path / "a", tarball=True)
    build_packages(staged, ["sagemaker"], tmp_path / "b", tarball=True)
    a = (tmp_path / "a/sagemaker/model.tar.gz").read_bytes()
    assert a == (tmp_path / "b/sagemaker/model.tar.gz").read_bytes()


def test_hub_revision_must_be_a_commit(tmp_path):
    with pytest.raises(StagingError, match="commit sha"):
        stage_hub("org/model", "main")


def test_not_a_model_folder(tmp_path):
    with pytest.raises(StagingError, match=r"model_index\.json"):
        stage_local(tmp_path)


def test_pickle_weights_are_refused(tiny_image_model, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(tiny_image_model, copy)
    (copy / "unet" / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(StagingError, match="safetensors"):
        stage_local(copy)


def test_package_command(tiny_image_model, tmp_path):
    from typer.testing import CliRunner

    from genai_endpoints.cli import app

    result = CliRunner().invoke(
        app,
        [
            "package",
            "--model-dir",
            str(tiny_image_model),
            "--cloud",
            "vertex",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "vertex/manifest.json").read_text())["cloud"] == "vertex"
    bad = CliRunner().invoke(app, ["package", "--model-id", "a/b", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "--revision" in bad.output


def _identical(cmp: filecmp.dircmp) -> bool:
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_identical(sub) for sub in cmp.subdirs.values())


def test_serving_pins_are_the_ones_the_real_toolkit_test_runs():
    """What a package pip-installs in its container is what .venv-smtk was tested with."""
    from pathlib import Path

    from model_packages.layout import SERVING_PINS

    def norm(name: str) -> str:
        return name.lower().replace("_", "-")

    lock = Path(__file__).resolve().parents[2] / "constraints-smtk.txt"
    pins = dict(
        norm(line).split("==")
        for line in lock.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for name, version in SERVING_PINS.items():
        assert pins.get(norm(name)) == version, name
