"""Packaging LoRA adapters, a safety checker and a deny list beside the weights: where they
go, how they are hashed and listed, what is refused (names, pickles, broken files)."""

from __future__ import annotations

import filecmp
import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from safetensors.numpy import save_file

from model_packages.build import CLOUDS, build_packages
from model_packages.extras import parse_lora, safetensors_problem, with_extras
from model_packages.staging import StagingError, stage_local
from scoring.errors import ModelNotReady
from scoring.loras import valid_name
from scoring.server.model import read_package
from tests.tiny_adapters import tiny_safety_checker

SAFETY_FILES = ["config.json", "deny_terms.txt", "model.safetensors", "preprocessor_config.json"]


def fake_lora(path, seed=0):
    """A well-formed safetensors file (packaging checks the format, not the keys)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"unet.a.lora.down.weight": rng.random((4, 8), dtype=np.float32)}, str(path))
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("extras")
    deny = root / "deny.txt"
    deny.write_text("# two terms\nfox\nred wolf\n")
    return {
        "ink": fake_lora(root / "ink.safetensors", 1),
        "oil": fake_lora(root / "oil" / "pytorch_lora_weights.safetensors", 2),  # a folder
        "checker": tiny_safety_checker(root / "checker", flags=False),
        "deny": deny,
    }


@pytest.fixture(scope="module")
def built(tiny_image_model, sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg")
    staged = with_extras(
        stage_local(tiny_image_model),
        [f"ink={sources['ink']}", f"oil={sources['oil'].parent}"],
        sources["checker"],
        sources["deny"],
    )
    return staged, out, build_packages(staged, list(CLOUDS), out)


def test_extras_ship_in_the_model_folder_hashed_and_listed(built, sources, tiny_image_model):
    _, out, manifests = built
    model = out / "vertex" / "model"
    assert sorted(p.name for p in (model / "loras").iterdir()) == [
        "ink.safetensors",
        "oil.safetensors",
    ]
    assert sorted(p.name for p in (model / "safety").iterdir()) == SAFETY_FILES
    info = json.loads((model / "genai_package.json").read_text())
    listed = {f["path"]: f["sha256"] for f in info["files"]}
    manifest = manifests["vertex"]
    weights = {f.path: f.sha256 for f in manifest.weights.files}
    for extra in ["loras/ink.safetensors", "loras/oil.safetensors", "safety/deny_terms.txt",
                  "safety/model.safetensors", "safety/config.json"]:  # fmt: skip
        assert listed[extra] == weights[extra]
    assert info["loras"] == ["ink", "oil"] and info["safety_checker"] is True
    assert (manifest.model.loras, manifest.model.safety_checker) == (["ink", "oil"], True)
    assert manifest.model.deny_terms == 2
    # the model's own content address is unchanged; the uploaded folder's is not
    plain = build_packages(stage_local(tiny_image_model), ["vertex"], out / "plain")["vertex"]
    assert manifest.model.digest == plain.model.digest
    assert manifest.weights.digest != plain.weights.digest
    assert os.stat(model / "loras" / "oil.safetensors").st_ino == os.stat(sources["oil"]).st_ino
    files = sorted(p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file())
    assert files == [f.path for f in manifest.weights.files]


def test_rebuild_with_extras_is_byte_identical(built, tmp_path):
    staged, out, _ = built
    build_packages(staged, ["sagemaker"], tmp_path)
    cmp = filecmp.dircmp(out / "sagemaker", tmp_path / "sagemaker")
    _, mismatch, errors = filecmp.cmpfiles(
        cmp.left, cmp.right, ["manifest.json", "model/genai_package.json"], shallow=False
    )
    assert not mismatch and not errors


def test_the_server_verifies_extras_like_weights(built, tmp_path):
    _, out, _ = built
    copy = tmp_path / "model"
    shutil.copytree(out / "azureml" / "model", copy)  # a copy: the package holds hard links
    assert read_package(copy, verify=True).files
    lora = copy / "loras" / "ink.safetensors"
    lora.write_bytes(lora.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ModelNotReady, match=r"loras/ink\.safetensors is corrupted"):
        read_package(copy, verify=True)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("ink", "expected NAME=PATH"),
        ("ink=", "expected NAME=PATH"),
        ("Ink=x.safetensors", "name 'Ink' is not allowed"),
        ("ink.v2=x.safetensors", "name 'ink.v2' is not allowed"),
        ("-ink=x.safetensors", "is not allowed"),
        (f"{'a' * 65}=x.safetensors", "is not allowed"),
        ("../ink=x.safetensors", "is not allowed"),
    ],
)
def test_lora_names_are_checked(spec, words):
    with pytest.raises(StagingError, match=words):
        parse_lora(spec)


@given(st.text(max_size=80))
def test_an_accepted_name_is_a_plain_file_stem(name):
    spec = f"{name}=x.safetensors"
    if valid_name(name):
        assert name == os.path.basename(name) and "." not in name and name.isascii()
        assert parse_lora(spec)[0] == name
    elif "=" not in name:
        with pytest.raises(StagingError):
            parse_lora(spec)
    # NAME=PATH splits at the first '=' (hypothesis found '0='): what precedes it is the
    # name, and whatever name comes back has passed the check
    try:
        got = parse_lora(spec)[0]
    except StagingError:
        return
    assert valid_name(got) and got == name.partition("=")[0]


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".ckpt", ".pth", ".pkl"])
def test_pickle_adapters_are_refused(tiny_image_model, tmp_path, suffix):
    pickle = tmp_path / f"ink{suffix}"
    pickle.write_bytes(b"\x80\x04pickle")
    staged = stage_local(tiny_image_model)
    with pytest.raises(StagingError, match="pickle file, which can run code"):
        with_extras(staged, [f"ink={pickle}"])
    with pytest.raises(StagingError, match="pickle file, which can run code"):
        with_extras(staged, [f"ink={tmp_path}"])  # a folder holding only the pickle


def test_broken_or_ambiguous_adapter_files_are_refused(tiny_image_model, tmp_path):
    staged = stage_local(tiny_image_model)
    good = fake_lora(tmp_path / "good.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-4])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a tensor file at all")
    fake_lora(tmp_path / "two" / "a.safetensors")
    fake_lora(tmp_path / "two" / "b.safetensors")
    for spec, words in [
        (f"a={cut}", "truncated or padded"),
        (f"a={junk}", "not a safetensors file"),
        (f"a={tmp_path / 'two'}", "holds 2 .safetensors files"),
        (f"a={tmp_path / 'missing.safetensors'}", "no such file"),
        (f"a={good}", None),
    ]:
        if words is None:
            assert with_extras(staged, [spec]).loras == ("a",)
        else:
            with pytest.raises(StagingError, match=words):
                with_extras(staged, [spec])
    with pytest.raises(StagingError, match="name 'a' is given twice"):
        with_extras(staged, [f"a={good}", f"a={good}"])
    assert safetensors_problem(good) is None


def test_video_models_take_no_adapters(tiny_video_model, sources):
    with pytest.raises(StagingError, match="video models cannot load LoRA adapters"):
        with_extras(stage_local(tiny_video_model), [f"ink={sources['ink']}"])


def test_checker_layouts(tiny_image_model, sources, tmp_path):
    staged = stage_local(tiny_image_model)
    # an SD 1.x model folder: safety_checker/ and feature_extractor/
    sd1 = tmp_path / "sd1"
    shutil.copytree(sources["checker"], sd1 / "safety_checker")
    (sd1 / "feature_extractor").mkdir()
    shutil.move(sd1 / "safety_checker" / "preprocessor_config.json", sd1 / "feature_extractor")
    paths = [x.entry.path for x in with_extras(staged, safety_checker=sd1).extras]
    assert paths == ["safety/config.json", "safety/model.safetensors",
                     "safety/preprocessor_config.json"]  # fmt: skip
    with pytest.raises(StagingError, match=r"missing feature_extractor/preprocessor_config"):
        shutil.rmtree(sd1 / "feature_extractor")
        with_extras(staged, safety_checker=sd1)
    pickled = tmp_path / "pickled"
    shutil.copytree(sources["checker"], pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(StagingError, match=r"found pytorch_model\.bin: pickle files"):
        with_extras(staged, safety_checker=pickled)
    other = tmp_path / "other"
    shutil.copytree(sources["checker"], other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "architectures": ["CLIPModel"]}))
    with pytest.raises(StagingError, match="does not describe a StableDiffusionSafetyChecker"):
        with_extras(staged, safety_checker=other)


def test_deny_terms_are_checked_when_packaged(tiny_image_model, tmp_path):
    staged = stage_local(tiny_image_model)
    bad = tmp_path / "bad.txt"
    bad.write_text("fox\n\x1b[31mred\n")
    with pytest.raises(StagingError, match="line 2: a term may not hold control characters"):
        with_extras(staged, deny_terms=bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n")
    with pytest.raises(StagingError, match="holds no terms"):
        with_extras(staged, deny_terms=empty)


def test_an_extra_may_not_replace_a_model_file(tiny_image_model, sources, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(tiny_image_model, model)
    (model / "safety").mkdir()
    (model / "safety" / "config.json").write_text("{}")
    with pytest.raises(StagingError, match=r"safety/config\.json: the model folder already has"):
        with_extras(stage_local(model), safety_checker=sources["checker"])


def test_package_command_options(tiny_image_model, sources, tmp_path):
    from typer.testing import CliRunner

    from genai_endpoints.cli import app

    args = ["package", "--model-dir", str(tiny_image_model), "--cloud", "sagemaker",
            "--out", str(tmp_path), "--lora", f"ink={sources['ink']}", "--lora",
            f"oil={sources['oil']}", "--safety-checker", str(sources["checker"]),
            "--deny-terms", str(sources["deny"])]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "with LoRA ink, oil; safety checker; 2 deny terms" in result.output
    manifest = json.loads((tmp_path / "sagemaker" / "manifest.json").read_text())
    assert manifest["model"]["loras"] == ["ink", "oil"]
    bad = CliRunner().invoke(app, [*args[:7], "--lora", "Ink=x.safetensors"])
    assert bad.exit_code != 0
    assert "name 'Ink' is not allowed" in bad.output and "Traceback" not in bad.output
