"""infra's reader of manifest v2: v1 refused, the weights folder checked."""

from __future__ import annotations

import json
import shutil

import pytest

from infra.manifest import ManifestError, load_manifest
from tests.infra.helpers import FIXTURE_PACKAGES, edit_manifest


@pytest.fixture
def packages(tmp_path):
    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    return dest


@pytest.mark.parametrize("cloud", ["sagemaker", "vertex", "azureml"])
def test_the_fixtures_are_data_only_v2_packages(cloud):
    manifest, folder = load_manifest(FIXTURE_PACKAGES, cloud)
    assert manifest.schema_version == 2 and manifest.runtime.contract == cloud
    listed = {f.path for f in manifest.weights.files}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert listed == on_disk and "genai_package.json" in listed
    assert not (folder.parent / "code").exists()
    assert manifest.weights.key_prefix == f"models/{manifest.weights.digest}/"


def test_v1_is_refused_with_rebuild(packages):
    edit_manifest(packages, "vertex", lambda m: m.update(schema_version=1))
    with pytest.raises(ManifestError, match=r"schema_version=1; allowed: 2 .*rebuild the package"):
        load_manifest(packages, "vertex")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m["weights"].update(key_prefix="models/" + "0" * 64 + "/"), "is not models/"),
        (
            lambda m: m["weights"].update(
                files=[f for f in m["weights"]["files"] if f["path"] != "genai_package.json"]
            ),
            "lists no genai_package.json",
        ),
        (lambda m: m["weights"]["files"][0].update(path="../x"), "must be relative"),
        (lambda m: m["weights"]["files"][0].update(size=1), "bytes, the manifest says 1; rebuild"),
        (lambda m: m.pop("runtime"), "runtime: Field required"),
        (lambda m: m["runtime"].update(lock_sha256="abc"), "runtime.lock_sha256"),
        (lambda m: m.update(cloud="vertex"), "is for cloud 'vertex'"),
    ],
)
def test_bad_manifests_are_one_line(packages, change, expected):
    edit_manifest(packages, "sagemaker", change)
    with pytest.raises(ManifestError) as info:
        load_manifest(packages, "sagemaker")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_manifest_without_its_weights_folder_is_accepted(packages):
    """Deploying from a machine that holds only the manifest: the upload step then needs
    every object in the bucket already (it says which one is missing)."""
    shutil.rmtree(packages / "azureml" / "model")
    manifest, folder = load_manifest(packages, "azureml")
    assert not folder.exists() and manifest.weights.files


def test_generator_reproduces_the_fixtures(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_packages", FIXTURE_PACKAGES.parent / "make_packages.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PACKAGES", tmp_path / "packages")
    monkeypatch.setattr(module, "PROJECT", tmp_path / "project")
    module.main()
    for cloud in ("sagemaker", "vertex", "azureml"):
        made = json.loads((tmp_path / "packages" / cloud / "manifest.json").read_text())
        kept = json.loads((FIXTURE_PACKAGES / cloud / "manifest.json").read_text())
        assert made == kept, cloud
