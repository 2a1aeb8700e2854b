"""The stack's ``engine`` section: scheduler, safety policy and deny terms reach every
cloud's container environment, checked against the package at plan time with one line."""

from __future__ import annotations

import copy
import shutil
from typing import get_args

import pytest

from infra.serving import SAFETY_POLICIES, SCHEDULERS
from infra.synth import SynthError
from tests.infra.helpers import FIXTURE_PACKAGES, edit_manifest, run_config, stack_config

ENGINE = "genai-endpoints:engine"
MODEL = "aws:sagemaker/model:Model"
VERTEX = "pulumi-python:dynamic/vertex:ModelDeployment"
AZURE = "azure-native:machinelearningservices:OnlineDeployment"
KEYS = ("GENAI_SCHEDULER", "GENAI_SAFETY", "GENAI_DENY_TERMS")


def packages(tmp_path, **model):
    """The fixture packages with ``model`` fields changed on every cloud."""
    dest = tmp_path / "packages"
    shutil.copytree(FIXTURE_PACKAGES, dest)
    for cloud in ("sagemaker", "vertex", "azureml"):
        edit_manifest(dest, cloud, lambda m: m["model"].update(model))
    return dest


def staging(**engine):
    config = copy.deepcopy(stack_config("staging"))  # all three clouds
    if engine:
        config[ENGINE] = engine
    return config


def environments(result) -> dict[str, dict[str, str]]:
    (aws,) = result.by_type(MODEL)
    (vertex,) = result.by_type(VERTEX)
    azure = result.by_type(AZURE)
    return {
        "aws": aws["inputs"]["primaryContainer"]["environment"],
        "gcp": {e["name"]: e["value"] for e in vertex["inputs"]["model"]["containerSpec"]["env"]},
        **{
            f"azure-{i}": d["inputs"]["properties"]["environmentVariables"]
            for i, d in enumerate(azure)
        },
    }


def error(config, **kw) -> str:
    with pytest.raises(SynthError) as info:
        run_config(config, **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_names_are_the_engines():
    from scoring.settings import SafetyPolicy, SchedulerName

    assert get_args(SchedulerName) == SCHEDULERS
    assert get_args(SafetyPolicy) == SAFETY_POLICIES


def test_the_engine_section_reaches_every_cloud(tmp_path):
    terms = ["red fox", "Straße", "wolf"]
    config = staging(scheduler="euler", safety="blur", denyTerms=terms)
    with_checker = packages(tmp_path, safety_checker=True)
    result = run_config(config, stack="staging", package_dir=with_checker)
    envs = environments(result)
    assert len(envs) >= 3
    for cloud, env in envs.items():
        assert env["GENAI_SCHEDULER"] == "euler", cloud
        assert env["GENAI_SAFETY"] == "blur", cloud
        assert env["GENAI_DENY_TERMS"] == '["red fox","Straße","wolf"]', cloud


def test_the_container_reads_what_the_stack_wrote(tmp_path, monkeypatch):
    from infra.serving import EngineSection
    from scoring.settings import EngineSettings

    terms = ['say "hi"', "a,b", "猫"]
    section = EngineSection.model_validate({"scheduler": "ddim", "denyTerms": terms})
    for key, value in section.env().items():
        monkeypatch.setenv(key, value)
    read = EngineSettings()
    assert (read.scheduler, read.deny_terms) == ("ddim", terms)


def test_without_the_section_the_image_defaults_apply():
    envs = environments(run_config(staging(), stack="staging"))
    assert not any(key in env for env in envs.values() for key in KEYS)


@pytest.mark.parametrize(
    ("engine", "model", "expected"),
    [
        ({"scheduler": "euler"}, {"family": "flux"},
         "genai-endpoints:engine.scheduler='euler': the package's model "
         "'stabilityai/stable-diffusion-xl-base-1.0' is a flux model, which runs only its "
         "own flow-matching scheduler; allowed: 'model-default' (or leave it unset)"),
        ({"safety": "withhold"}, {},
         "genai-endpoints:engine.safety='withhold': the package ships no safety checker; "
         "allowed: 'off', or rebuild the package with `genai-endpoints package "
         "--safety-checker PATH`"),
        ({"scheduler": "lms"}, {},
         "genai-endpoints:engine.scheduler='lms': Input should be 'dpm++', 'euler', "
         "'euler-a', 'ddim', 'pndm' or 'model-default'"),
        ({"safety": "hide"}, {}, "genai-endpoints:engine.safety='hide'"),
        ({"denyTerms": ["fox", " "]}, {}, "term 1 is empty"),
        ({"denyTerms": ["x" * 201]}, {}, "term 0 must be at most 200 characters"),
        ({"denyTerms": [f"term{i:03d}" for i in range(110)]}, {},  # 110 x 10 + 1
         "the list takes 1101 bytes as GENAI_DENY_TERMS; allowed: at most 1024"),
        ({"sampler": "euler"}, {},
         "unknown key genai-endpoints:engine.sampler; allowed keys: scheduler, safety, "
         "denyTerms"),
    ],
)  # fmt: skip
def test_bad_engine_settings_are_one_line(tmp_path, engine, model, expected):
    message = error(staging(**engine), stack="staging", package_dir=packages(tmp_path, **model))
    assert expected in message


def test_model_default_fits_every_family(tmp_path):
    config = staging(scheduler="model-default")
    result = run_config(config, stack="staging", package_dir=packages(tmp_path, family="sd3"))
    assert all(env["GENAI_SCHEDULER"] == "model-default" for env in environments(result).values())


def test_engine_must_be_an_object():
    config = staging()
    config[ENGINE] = "euler"
    message = error(config, stack="staging")
    assert "genai-endpoints:engine='euler': must be an object" in message
    assert "allowed keys: scheduler, safety, denyTerms" in message


def test_manifests_name_their_extras(tmp_path):
    from infra.manifest import load_manifest

    dest = packages(tmp_path, loras=["ink"], safety_checker=True)
    manifest, _ = load_manifest(dest, "vertex")
    assert (manifest.model.loras, manifest.model.safety_checker) == (["ink"], True)
    old, _ = load_manifest(FIXTURE_PACKAGES, "vertex")  # written before extras existed
    assert (old.model.loras, old.model.safety_checker) == ([], False)
