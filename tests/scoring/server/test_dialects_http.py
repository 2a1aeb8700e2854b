"""Each dialect, end to end over HTTP, on every cloud's contract: a client of another image
API gets that API's answer from our server with only the URL changed; raw answers carry
the seed header and no header value carries a comma. One server per contract, the tiny
model at 64x64 with at most 2 steps."""

from __future__ import annotations

import base64
import io
import json

import pytest

from genai_endpoints.commands.rehearsal import package_server
from tests.scoring.server.helpers import Raw, post

pytestmark = pytest.mark.slow

CLOUDS = ("sagemaker", "vertex", "azureml")
SETTINGS = {"GENAI_MAX_STEPS": "2"}  # every dialect's default steps capped: fast on a CPU


@pytest.fixture(scope="module", params=CLOUDS)
def server(request, image_packages, tmp_path_factory):
    cloud = request.param
    with package_server(
        cloud, image_packages / cloud, tmp_path_factory.mktemp("logs"), env=SETTINGS
    ) as running:
        yield running


def send(server, payload, headers=None) -> Raw:
    return post(server.port, server.contract.routes.predict, payload, headers)


def png_64(data: bytes) -> bool:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    return img.format == "PNG" and img.size == (64, 64)


def headers_ok(r: Raw, seed: int | None = None) -> None:
    assert r.headers["x-genai-seed"].isdigit()
    if seed is not None:
        assert r.headers["x-genai-seed"] == str(seed)
    assert r.headers["x-genai-timings-ms"].startswith("queued=")
    ours = {k: v for k, v in r.headers.items() if k not in ("date", "server")}  # HTTP's own
    assert all("," not in value for value in ours.values()), r.headers


def test_openai(server):
    r = send(
        server,
        {
            "prompt": "a lighthouse",
            "n": 1,
            "size": "1024x1024",
            "quality": "low",
            "response_format": "b64_json",
            "seed": 1,
        },
    )
    assert r.status == 200, r.body
    body = r.json()
    assert set(body) >= {"created", "data"} and body["size"] == "64x64"
    assert png_64(base64.b64decode(body["data"][0]["b64_json"]))
    headers_ok(r, 1)


def test_stability(server):
    r = send(
        server,
        {
            "text_prompts": [{"text": "a lighthouse", "weight": 1}, {"text": "fog", "weight": -1}],
            "cfg_scale": 7,
            "steps": 2,
            "seed": 5,
            "samples": 1,
            "style_preset": "photographic",
        },
    )
    assert r.status == 200, r.body
    artifact = r.json()["artifacts"][0]
    assert artifact["seed"] == 5 and artifact["finishReason"] == "SUCCESS"
    assert png_64(base64.b64decode(artifact["base64"]))
    headers_ok(r, 5)


def test_imagen(server):
    r = send(
        server,
        {
            "instances": [{"prompt": "a lighthouse"}],
            "parameters": {
                "sampleCount": 1,
                "negativePrompt": "fog",
                "seed": 3,
                "aspectRatio": "1:1",
                "addWatermark": True,
            },
        },
    )
    assert r.status == 200, r.body
    (prediction,) = r.json()["predictions"]
    assert prediction["mimeType"] == "image/png"
    assert png_64(base64.b64decode(prediction["bytesBase64Encoded"]))
    headers_ok(r, 3)


def test_a1111(server):
    r = send(
        server,
        {
            "prompt": "a lighthouse",
            "negative_prompt": "fog",
            "steps": 2,
            "cfg_scale": 7,
            "seed": 4,
            "batch_size": 1,
            "sampler_name": "Euler a",
            "width": 64,
            "height": 64,
        },
    )
    assert r.status == 200, r.body
    body = r.json()
    assert set(body) == {"images", "parameters", "info"}
    assert png_64(base64.b64decode(body["images"][0]))
    assert json.loads(body["info"])["all_seeds"] == [4]
    headers_ok(r, 4)


def test_huggingface_raw_bytes(server):
    r = send(
        server,
        {
            "inputs": "a lighthouse",
            "parameters": {
                "num_inference_steps": 2,
                "seed": 6,
                "target_size": {"width": 64, "height": 64},
            },
        },
    )
    assert r.status == 200, r.body
    assert r.headers["content-type"] == "image/png" and png_64(r.body)
    headers_ok(r, 6)


def test_the_selector_passes_through_the_content_type(server):
    r = send(
        server,
        {"inputs": "a lighthouse", "parameters": {"num_inference_steps": 1}},
        {"Content-Type": "application/json; dialect=huggingface"},
    )
    assert r.status == 200 and r.headers["content-type"] == "image/png", r.body


def test_our_raw_answer_carries_the_seed_and_no_commas(server):
    payload = {"prompt": "a lighthouse", "num_inference_steps": 1, "seed": 11}
    if server.cloud == "vertex":
        payload = {"instances": [payload]}
    r = send(server, payload, {"Accept": "image/png"})
    assert r.status == 200 and r.headers["content-type"] == "image/png" and png_64(r.body)
    headers_ok(r, 11)


def test_refusals_are_in_the_dialects_error_shape(server):
    r = send(server, {"prompt": "x", "response_format": "url"})
    assert r.status == 400 and r.json()["error"]["param"] == "response_format"
    r = send(server, {"prompt": "x", "n": 2, "steps": 2})
    assert r.status == 400 and "ambiguous" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "header",
    [
        {"X-Genai-Dialect": "openai"},
        {"X-Amzn-SageMaker-Custom-Attributes": "trace=1,dialect=openai"},
    ],
)
def test_a_header_can_name_the_dialect(server, header):
    """SageMaker forwards only CustomAttributes; other clouds pass X-Genai-Dialect."""
    body = {"prompt": "a lighthouse"}  # ours, unless a header says otherwise
    assert "outputs" in send(server, body).json()
    r = send(server, body, header)
    assert r.status == 200, r.body
    assert set(r.json()) >= {"created", "data"}
