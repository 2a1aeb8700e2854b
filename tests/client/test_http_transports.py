"""Our contracts over HTTP, Vertex predict, Azure ML scoring, Imagen and Azure OpenAI,
each against a fake on loopback: the body each sends, its auth header, and its parsing."""

from __future__ import annotations

import base64

import pytest

from genai_endpoints.client.errors import CallError, ConfigError, UnsupportedRequest
from genai_endpoints.client.outputs import AzureOutputs, GcpOutputs
from genai_endpoints.client.transports.azure_openai import AzureOpenAIImages
from genai_endpoints.client.transports.azureml import AzureMlEndpoint
from genai_endpoints.client.transports.contracts import ContractHttp
from genai_endpoints.client.transports.imagen import Imagen
from genai_endpoints.client.transports.vertex import VertexEndpoint
from scoring.schema import GenerationRequest
from tests.client.helpers import Reply, contract_answer, png_bytes

PNG = png_bytes()
REQ = GenerationRequest(prompt="a fox", seed=7, num_inference_steps=4, width=64, height=64)


class FakeToken:
    project = "proj-1"

    def header(self):
        return {"Authorization": "Bearer google-token-123"}


class FakeEntra:
    def get(self):
        return "entra-token-456"

    def credential(self):
        raise AssertionError("not used")


@pytest.mark.parametrize(
    ("contract", "path", "body"),
    [
        (
            "sagemaker",
            "/invocations",
            {
                "inputs": "a fox",
                "parameters": {
                    "seed": 7,
                    "num_inference_steps": 4,
                    "width": 64,
                    "height": 64,
                    "guidance_scale": 7.5,
                    "num_outputs": 1,
                },
            },
        ),
        (
            "vertex",
            "/predict",
            {
                "instances": [
                    {
                        "prompt": "a fox",
                        "seed": 7,
                        "num_inference_steps": 4,
                        "width": 64,
                        "height": 64,
                        "guidance_scale": 7.5,
                        "num_outputs": 1,
                    }
                ],
                "parameters": {},
            },
        ),
        (
            "azureml",
            "/score",
            {
                "prompt": "a fox",
                "seed": 7,
                "num_inference_steps": 4,
                "width": 64,
                "height": 64,
                "guidance_scale": 7.5,
                "num_outputs": 1,
            },
        ),
    ],
)
def test_each_contract_gets_its_envelope(fake, contract, path, body):
    fake.reply(Reply(body=contract_answer(PNG, vertex=contract == "vertex")))
    t = ContractHttp(contract, fake.url, "tiny", "r1")
    answer = t.call(REQ, 5, None)
    assert fake.seen[0].path == path and fake.seen[0].json() == body
    assert answer.outputs[0].data == PNG and answer.outputs[0].seed == 7
    assert answer.server_s == pytest.approx(0.05)
    assert answer.model_revision == "local-abc"


@pytest.mark.parametrize(
    ("status", "retryable", "fallback"),
    [(400, False, False), (422, False, False), (429, True, True), (500, False, True),
     (503, True, True), (504, False, True)],
)  # fmt: skip
def test_status_codes_map_to_retry_and_fallback(fake, status, retryable, fallback):
    err = {"error": {"code": status, "field": "seed", "message": f"seed: problem {status}"}}
    fake.reply(Reply(status, err, {"Retry-After": "3"}))
    with pytest.raises(CallError) as info:
        ContractHttp("azureml", fake.url, None, None).call(REQ, 5, None)
    e = info.value
    assert (e.status, e.retryable, e.fallback_ok) == (status, retryable, fallback)
    assert e.retry_after == 3.0 and f"seed: problem {status}" in e.message


def test_timeout_and_refused_connection(fake):
    fake.reply(Reply(body=contract_answer(PNG), delay_s=1.0))
    with pytest.raises(CallError) as info:
        ContractHttp("sagemaker", fake.url, None, None).call(REQ, 0.2, None)
    assert info.value.timeout and info.value.fallback_ok and not info.value.retryable
    with pytest.raises(CallError) as info:
        ContractHttp("sagemaker", "http://127.0.0.1:9", None, None).call(REQ, 2, None)
    assert info.value.connection and info.value.fallback_ok and not info.value.retryable


def test_garbage_answers_are_502(fake):
    fake.reply(Reply(body=b"<html>proxy error</html>"))
    with pytest.raises(CallError, match="not JSON") as info:
        ContractHttp("sagemaker", fake.url, None, None).call(REQ, 5, None)
    assert info.value.status == 502
    fake.reply(Reply(body={"outputs": [{"data": "%%%"}]}))
    with pytest.raises(CallError, match=r"outputs\[0\]\.data is not base64"):
        ContractHttp("sagemaker", fake.url, None, None).call(REQ, 5, None)


def test_vertex_endpoint_sends_bearer_token_to_predict_url(fake):
    fake.reply(Reply(body=contract_answer(PNG, vertex=True)))
    section = GcpOutputs(
        project="p", region="europe-west4", predict_url=f"{fake.url}/v1/projects/p/locations/"
        "europe-west4/endpoints/123:predict", endpoint_id="123", model_revision="r9",
    )  # fmt: skip
    t = VertexEndpoint(section, token=FakeToken())
    answer = t.call(REQ, 5, None)
    seen = fake.seen[0]
    assert seen.path == "/v1/projects/p/locations/europe-west4/endpoints/123:predict"
    assert seen.headers["authorization"] == "Bearer google-token-123"
    assert seen.json()["instances"][0]["prompt"] == "a fox"
    assert answer.outputs[0].data == PNG and t.model_revision == "r9"


def _azure(fake, **kw) -> AzureOutputs:
    return AzureOutputs(
        endpoint_name="genai-e", scoring_uri=f"{fake.url}/score", subscription_id="s",
        resource_group="rg", workspace="ws", **kw,
    )  # fmt: skip


def test_azureml_key_from_env_and_deployment_header(fake, monkeypatch):
    monkeypatch.setenv("MY_AML_KEY", "aml-key-secret-789")
    fake.reply(Reply(body=contract_answer(PNG)))
    t = AzureMlEndpoint(_azure(fake), key_env="MY_AML_KEY", deployment="blue")
    t.call(REQ, 5, None)
    seen = fake.seen[0]
    assert seen.path == "/score" and seen.json()["prompt"] == "a fox"
    assert seen.headers["authorization"] == "Bearer aml-key-secret-789"
    assert seen.headers["azureml-model-deployment"] == "blue"


def test_azureml_entra_token_mode(fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    t = AzureMlEndpoint(_azure(fake, auth_mode="aad_token"))
    t._entra = FakeEntra()
    t.call(REQ, 5, None)
    assert fake.seen[0].headers["authorization"] == "Bearer entra-token-456"
    assert "azureml-model-deployment" not in fake.seen[0].headers


def test_azureml_key_fetch_needs_the_workspace(fake, monkeypatch):
    section = AzureOutputs(endpoint_name="e", scoring_uri=f"{fake.url}/score")
    with pytest.raises(ConfigError, match=r"outputs need azure\.subscription_id"):
        AzureMlEndpoint(section).call(REQ, 5, None)
    with pytest.raises(ConfigError, match="NOPE_KEY is not set"):
        AzureMlEndpoint(section, key_env="NOPE_KEY").call(REQ, 5, None)
    assert not fake.seen


def test_azureml_key_from_mlclient(fake, monkeypatch):
    """Without key_env the primary key comes from MLClient.online_endpoints.get_keys."""
    calls = []

    class Keys:
        primary_key = "primary-key-from-mlclient"

    class FakeMLClient:
        def __init__(self, credential, subscription_id, resource_group_name, workspace_name):
            calls.append((subscription_id, resource_group_name, workspace_name))
            self.online_endpoints = self

        def get_keys(self, name):
            calls.append(name)
            return Keys()

    import sys
    import types

    # a stand-in module: the real azure.ai.ml takes seconds to import
    monkeypatch.setitem(sys.modules, "azure.ai.ml", types.SimpleNamespace(MLClient=FakeMLClient))
    fake.reply(Reply(body=contract_answer(PNG)))
    t = AzureMlEndpoint(_azure(fake))
    t._entra._credential = object()
    t.call(REQ, 5, None)
    assert calls == [("s", "rg", "ws"), "genai-e"]
    assert fake.seen[0].headers["authorization"] == "Bearer primary-key-from-mlclient"


# -- Imagen -----------------------------------------------------------------------------------
def _imagen(fake, **kw) -> Imagen:
    args = {"project": "proj-1", "region": "us-central1", "add_watermark": False}
    args.update(kw)
    return Imagen("imagen-4.0-generate-001", api_endpoint=fake.url, token=FakeToken(), **args)


def test_imagen_body_url_and_parse(fake):
    b64 = base64.b64encode(PNG).decode()
    fake.reply(Reply(body={"predictions": [{"bytesBase64Encoded": b64, "mimeType": "image/png"}]}))
    req = GenerationRequest(prompt="a fox", seed=5, width=1280, height=720, negative_prompt="fog")
    t = _imagen(fake)
    t.check(req)
    answer = t.call(req, 5, None)
    seen = fake.seen[0]
    assert seen.path == (
        "/v1/projects/proj-1/locations/us-central1/publishers/google/models/"
        "imagen-4.0-generate-001:predict"
    )
    assert seen.headers["authorization"] == "Bearer google-token-123"
    assert seen.json() == {
        "instances": [{"prompt": "a fox"}],
        "parameters": {
            "sampleCount": 1, "addWatermark": False, "outputOptions": {"mimeType": "image/png"},
            "negativePrompt": "fog", "seed": 5, "aspectRatio": "16:9",
        },
    }  # fmt: skip
    assert answer.outputs[0].data == PNG and answer.outputs[0].seed == 5


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"num_inference_steps": 20}, "num_inference_steps: Imagen picks its own"),
        ({"guidance_scale": 9.0}, "guidance_scale: Imagen picks its own"),
        ({"num_outputs": 5}, "num_outputs: 1-4 for Imagen"),
        ({"width": 1000, "height": 600}, "width: Imagen takes an aspect ratio"),
        ({"output_format": "webp"}, "output_format: Imagen makes png or jpeg"),
        ({"image": base64.b64encode(PNG).decode()}, "image: imagen"),
        ({"num_frames": 8}, "num_frames:"),
    ],
)
def test_imagen_refuses_what_it_cannot_honour_before_calling(fake, fields, words):
    t = _imagen(fake)
    with pytest.raises(UnsupportedRequest) as info:
        t.check(GenerationRequest(prompt="x", **fields))
    assert words in info.value.message
    assert not fake.seen


def test_imagen_seed_needs_the_watermark_off(fake):
    with pytest.raises(UnsupportedRequest, match="set add_watermark: false"):
        _imagen(fake, add_watermark=True).check(GenerationRequest(prompt="x", seed=1))
    _imagen(fake, add_watermark=True).check(GenerationRequest(prompt="x"))  # no seed: fine


def test_imagen_all_filtered_is_an_error(fake):
    fake.reply(Reply(body={"predictions": [{"raiFilteredReason": "blocked by safety"}]}))
    with pytest.raises(CallError, match="blocked by safety") as info:
        _imagen(fake).call(GenerationRequest(prompt="x"), 5, None)
    assert info.value.status == 422 and not info.value.fallback_ok


# -- Azure OpenAI --------------------------------------------------------------------------------
def test_azure_openai_dalle_body_key_header_and_parse(fake, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "aoai-key-abcdef")
    b64 = base64.b64encode(PNG).decode()
    fake.reply(Reply(body={"created": 1, "data": [{"b64_json": b64, "revised_prompt": "a fox!"}]}))
    t = AzureOpenAIImages(fake.url, "d3", "dall-e-3", image_quality="hd", style="natural")
    req = GenerationRequest(prompt="a fox", width=1792, height=1024)
    t.check(req)
    answer = t.call(req, 5, None)
    seen = fake.seen[0]
    assert seen.path == "/openai/deployments/d3/images/generations?api-version=2024-10-21"
    assert seen.headers["api-key"] == "aoai-key-abcdef"
    assert seen.json() == {
        "prompt": "a fox", "n": 1, "size": "1792x1024", "quality": "hd",
        "response_format": "b64_json", "style": "natural",
    }  # fmt: skip
    assert answer.outputs[0].data == PNG and answer.metadata["revised_prompt"] == ["a fox!"]


def test_azure_openai_gpt_image_body_and_entra_token(fake, monkeypatch):
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    fake.reply(Reply(body={"data": [{"b64_json": base64.b64encode(PNG).decode()}] * 2}))
    t = AzureOpenAIImages(fake.url, "gi", "gpt-image-1.5", image_quality="high")
    t._entra = FakeEntra()
    req = GenerationRequest(
        prompt="a fox", width=1536, height=1024, num_outputs=2, output_format="webp"
    )
    t.check(req)
    answer = t.call(req, 5, None)
    seen = fake.seen[0]
    assert "api-version=2025-04-01-preview" in seen.path
    assert seen.headers["authorization"] == "Bearer entra-token-456"
    assert seen.json() == {
        "prompt": "a fox", "n": 2, "size": "1536x1024", "quality": "high", "output_format": "webp"
    }  # fmt: skip
    assert len(answer.outputs) == 2 and answer.outputs[0].content_type == "image/webp"


@pytest.mark.parametrize(
    ("model", "fields", "words"),
    [
        ("dall-e-3", {"num_inference_steps": 30}, "num_inference_steps: dall-e-3 has no"),
        ("dall-e-3", {"negative_prompt": "fog"}, "negative_prompt: dall-e-3 has no"),
        ("dall-e-3", {"seed": 3}, "seed: dall-e-3 has no seed"),
        ("dall-e-3", {"num_outputs": 2}, "num_outputs: at most 1"),
        ("dall-e-3", {"width": 512, "height": 512}, "width: dall-e-3 makes 1024x1024, 1792x1024"),
        ("dall-e-3", {"output_format": "jpeg"}, "output_format: dall-e-3 makes png"),
        ("gpt-image-1", {"width": 1792, "height": 1024}, "1024x1024, 1536x1024, 1024x1536"),
        ("gpt-image-1", {"mask": "eA=="}, "mask: azure-openai"),
    ],
)
def test_azure_openai_refuses_fields_before_calling(fake, model, fields, words):
    t = AzureOpenAIImages(fake.url, "d", model)
    with pytest.raises(UnsupportedRequest) as info:
        t.check(GenerationRequest(prompt="x", **fields))
    assert words in info.value.message
    assert not fake.seen


def test_azure_openai_unseeded_opt_in(fake):
    t = AzureOpenAIImages(fake.url, "d", "dall-e-3", allow_unseeded=True)
    t.check(GenerationRequest(prompt="x", seed=3))
    assert not t.seeded


def test_azure_openai_bad_target_settings():
    with pytest.raises(ConfigError, match="image_quality for dall-e-3 is one of standard, hd"):
        AzureOpenAIImages("https://x", "d", "dall-e-3", image_quality="high")
    with pytest.raises(ConfigError, match="style is for dall-e-3 only"):
        AzureOpenAIImages("https://x", "d", "gpt-image-1", style="vivid")
    with pytest.raises(ConfigError, match="knows dall-e-3 and gpt-image"):
        AzureOpenAIImages("https://x", "d", "sora")
