"""Shared fixtures: tiny models are built once per test session, offline. Helpers that
tests import live in tests/helpers.py."""

from __future__ import annotations

import os

import pytest

# the real storage emulators on loopback (moto server, fake-gcs-server, Azurite)
pytest_plugins = ["tests.emulators"]

# CPU results independent of the thread count (scoring/determinism.py): MKL reads this
# once, when torch loads, so it is set before any test imports torch
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
# nothing in the test suite may reach a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _fresh_boto3_default_session():
    """boto3's default session keeps the credentials it first resolves: a test that ran
    under an emulator's stand-in keys must not lend them to the next one (a test of "no
    credentials" then reached the real S3 with them)."""
    yield
    import sys

    boto3 = sys.modules.get("boto3")  # never imported here for a test that did not
    if boto3 is not None:
        boto3.DEFAULT_SESSION = None


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory):
    """``tiny_family(family, variants=(None,))`` → the tiny model's folder, built once per
    session for each (family, variants) asked for."""
    from scoring.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("families")
    built: dict = {}

    def get(family: str, variants: tuple = (None,)):
        key = (family, tuple(variants))
        if key not in built:
            name = "-".join([family, *(v or "plain" for v in variants)])
            built[key] = build_tiny_model(root / name, family, variants=tuple(variants))
        return built[key]

    return get


@pytest.fixture(scope="session")
def tiny_image_model(tiny_family):
    return tiny_family("sd")


@pytest.fixture(scope="session")
def tiny_video_model(tiny_family):
    return tiny_family("video")


@pytest.fixture(scope="session")
def tiny_sdxl_fp16_model(tiny_family):
    """SDXL-shaped, fp16 weights only (``*.fp16.safetensors``), as many Hub checkpoints."""
    return tiny_family("sdxl", ("fp16",))


@pytest.fixture(scope="session")
def tiny_two_variant_model(tiny_family):
    """SD with both plain (fp32) and fp16 weights in each module folder."""
    return tiny_family("sd", (None, "fp16"))


@pytest.fixture(scope="session")
def image_packages(tiny_image_model, tmp_path_factory):
    """The tiny text-to-image model packaged for every cloud, once per session."""
    from model_packages.build import build_packages
    from model_packages.staging import stage_local

    out = tmp_path_factory.mktemp("packages")
    build_packages(stage_local(tiny_image_model), ["sagemaker", "vertex", "azureml"], out)
    return out


@pytest.fixture(scope="session")
def image_engine(tiny_image_model):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    return Engine(
        EngineSettings(model_dir=tiny_image_model, model_id="tiny/t2i", model_revision="test")
    )


@pytest.fixture(scope="session")
def video_engine(tiny_video_model):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    return Engine(EngineSettings(model_dir=tiny_video_model, model_id="tiny/t2v"))


@pytest.fixture
def image_scorer(image_engine):
    from scoring.service import Scorer

    return Scorer(image_engine)


@pytest.fixture
def video_scorer(video_engine):
    from scoring.service import Scorer

    return Scorer(video_engine)
