"""Shared fixtures: tiny models are built once per test session, offline."""

from __future__ import annotations

import base64
import io
import os

import pytest

# CPU results independent of the thread count (scoring/determinism.py): MKL reads this
# once, when torch loads, so it is set before any test imports torch
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
# nothing in the test suite may reach a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory):
    from scoring.tiny import TinyKind, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-t2i", TinyKind.TEXT_TO_IMAGE)


@pytest.fixture(scope="session")
def tiny_video_model(tmp_path_factory):
    from scoring.tiny import TinyKind, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-t2v", TinyKind.TEXT_TO_VIDEO)


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


def png_b64(width: int = 64, height: int = 64, color=(200, 40, 40), mode: str = "RGB") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (width, height), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def half_mask_b64(width: int = 64, height: int = 64) -> str:
    """White (repaint) right half, black (keep) left half."""
    from PIL import Image

    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (width // 2, 0, width, height))
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def decode_output(answer_json: dict, index: int = 0):
    """The PIL image of output ``index`` in a JSON answer."""
    from PIL import Image

    data = base64.b64decode(answer_json["outputs"][index]["data"])
    return Image.open(io.BytesIO(data))
