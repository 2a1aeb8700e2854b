"""The adapters called directly, the way each cloud's server calls them."""

from __future__ import annotations

import json

import pytest

from genai_endpoints.local_serve import ToolkitContext
from model_packages.build import build_packages
from model_packages.staging import stage_local
from scoring.adapters import sagemaker as sm
from scoring.adapters.vertex import EndpointHandler
from scoring.errors import InternalError, RequestError


@pytest.fixture(scope="module")
def packages(tiny_image_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter-pkgs")
    build_packages(stage_local(tiny_image_model), ["sagemaker", "vertex"], out)
    return out


def sagemaker_call(body: dict, accept="application/json", context=True):
    ctx = ToolkitContext() if context else None
    data = sm.input_fn(json.dumps(body), "application/json", ctx)
    prediction = sm.predict_fn(data, sm._scorer, ctx)
    return sm.output_fn(prediction, accept, ctx), ctx


def test_sagemaker_functions_with_and_without_context(packages, monkeypatch):
    sm.model_fn(str(packages / "sagemaker" / "model"))
    out, ctx = sagemaker_call({"inputs": "x", "parameters": {"num_inference_steps": 1}})
    assert ctx.status == 200 and json.loads(out)["outputs"]
    out, ctx = sagemaker_call({"inputs": "x", "parameters": {"num_frames": 4}})
    assert ctx.status == 422 and "text-to-video" in json.loads(out)["error"]["message"]
    with pytest.raises(sm.SageMakerRequestError, match="num_inference_steps"):
        sagemaker_call({"inputs": "x", "parameters": {"num_inference_steps": 0}}, context=False)

    def boom(*a, **k):
        raise RuntimeError("CUDA error: secret detail")

    monkeypatch.setattr(sm._scorer.engine, "generate", boom)
    out, ctx = sagemaker_call({"inputs": "x", "parameters": {"num_inference_steps": 1}})
    assert ctx.status == 500 and b"secret" not in out


def test_vertex_handler(packages, monkeypatch):
    handler = EndpointHandler(str(packages / "vertex" / "model"))
    answer = handler(
        {"instances": ["a", {"prompt": "b"}], "parameters": {"num_inference_steps": 1}}
    )
    assert len(answer["predictions"]) == 2
    assert "predictions" in handler({"prompt": "plain", "num_inference_steps": 1})
    with pytest.raises(RequestError):
        handler({"instances": [{"prompt": "x", "width": 3}]})
    monkeypatch.setattr(handler.scorer.engine, "generate", lambda *a, **k: 1 / 0)
    with pytest.raises(InternalError):
        handler({"instances": ["x"], "parameters": {"num_inference_steps": 1}})
