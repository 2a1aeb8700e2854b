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


def test_a_package_is_data_only_the_same_folder_on_every_cloud(packages):
    """Weights and their file list; the code that serves them is the runtime image's."""
    out, manifests = packages
    trees = {}
    for cloud in CLOUDS:
        manifest = Manifest.model_validate_json((out / cloud / "manifest.json").read_text())
        assert manifest == manifests[cloud]
        assert manifest.schema_version == 2
        assert manifest.model.revision.startswith("local-")
        assert manifest.weights.key_prefix == f"models/{manifest.weights.digest}/"
        files = sorted(p.relative_to(out / cloud / "model").as_posix()
                       for p in (out / cloud / "model").rglob("*") if p.is_file())  # fmt: skip
        assert files == [f.path for f in manifest.weights.files]  # every file listed, no more
        assert not any(f.endswith(".py") for f in files)
        assert "genai_package.json" in files
        trees[cloud] = manifest.weights.digest
        assert sorted(os.listdir(out / cloud)) == ["manifest.json", "model"]
    assert len(set(trees.values())) == 1  # one content address for all three clouds


def test_manifest_says_how_each_cloud_runs_the_runtime_image(packages):
    from model_packages.layout import lock_sha256

    _, m = packages
    for cloud in CLOUDS:
        rt = m[cloud].runtime
        assert rt.dockerfile == "runtime/Dockerfile" and rt.lock == "runtime/serve.lock"
        assert rt.lock_sha256 == lock_sha256() and len(rt.lock_sha256) == 64
        assert rt.contract == cloud and rt.env["GENAI_CONTRACT"] == cloud
        assert rt.env["GENAI_MODEL_REVISION"] == m[cloud].model.revision
        assert rt.needs_egress is False
    sm, vx, az = m["sagemaker"].runtime, m["vertex"].runtime, m["azureml"].runtime
    assert (sm.args, sm.port, sm.health_route, sm.predict_route) == (
        ["serve"], 8080, "/ping", "/invocations")  # fmt: skip
    assert (vx.args, vx.port, vx.health_route, vx.predict_route) == (
        [],
        8080,
        "/health",
        "/predict",
    )
    assert (az.port, az.health_route, az.readiness_route, az.predict_route) == (
        5001, "/", "/ready", "/score")  # fmt: skip
    assert {lim.name: lim.timeout_s for lim in m["sagemaker"].limits} == {
        "realtime": 60,
        "async": 3600,
    }
    assert {lim.name: lim.max_request_bytes for lim in m["vertex"].limits} == {
        "shared": 1_500_000,
        "dedicated": 10_000_000,
    }
    assert m["azureml"].limits[0].timeout_s == 180


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


def test_hub_model_without_network_is_one_clean_line(tmp_path):
    """No network (the tests run with HF_HUB_OFFLINE=1): one line that says what to do."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "genai_endpoints", "package", "--model-id", "org/name",
         "--revision", "0" * 40, "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot reach the Hub" in lines[0] and "--model-dir" in lines[0]


def test_compile_caches_ship_in_the_model_folder_hashed(tiny_image_model, tmp_path):
    from model_packages.extras import with_extras

    caches = tmp_path / "caches"
    caches.mkdir()
    (caches / "NVIDIA_L4-abc.bin").write_bytes(b"compiled kernels")
    staged = with_extras(stage_local(tiny_image_model), compile_cache=caches)
    manifest = build_packages(staged, ["vertex"], tmp_path / "out")["vertex"]
    shipped = tmp_path / "out/vertex/model/compile-cache/NVIDIA_L4-abc.bin"
    assert shipped.read_bytes() == b"compiled kernels"
    assert "compile-cache/NVIDIA_L4-abc.bin" in {f.path for f in manifest.weights.files}
    info = json.loads((tmp_path / "out/vertex/model/genai_package.json").read_text())
    assert "compile-cache/NVIDIA_L4-abc.bin" in {f["path"] for f in info["files"]}
    with pytest.raises(StagingError, match=r"no \*\.bin compile caches"):
        with_extras(stage_local(tiny_image_model), compile_cache=tmp_path / "empty")
