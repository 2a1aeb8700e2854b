"""SageMaker (real-time and async with its S3 objects) and Bedrock, through botocore's
Stubber and moto's S3: the exact API parameters, the bodies, and error mapping."""

from __future__ import annotations

import base64
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from genai_endpoints.client.errors import CallError, ConfigError, UnsupportedRequest
from genai_endpoints.client.outputs import AwsOutputs
from genai_endpoints.client.transports.bedrock import Bedrock
from genai_endpoints.client.transports.sagemaker import SageMakerAsync, SageMakerRealtime
from scoring.schema import GenerationRequest
from tests.client.helpers import contract_answer, png_bytes

PNG = png_bytes()
REQ = GenerationRequest(prompt="a fox", seed=7, num_inference_steps=4)
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def section(**kw) -> AwsOutputs:
    base = {"endpoint_name": "genai-dev", "region": "us-east-1", "model_revision": "r1"}
    base.update(kw)
    return AwsOutputs(**base)


# -- real-time ----------------------------------------------------------------------------
def test_realtime_invoke_endpoint_params_and_answer():
    rt = boto3.client("sagemaker-runtime", region_name="us-east-1", **CREDS)
    answer = json.dumps(contract_answer(PNG)).encode()
    with Stubber(rt) as stub:
        stub.add_response(
            "invoke_endpoint",
            {"Body": body(answer), "ContentType": "application/json"},
            {
                "EndpointName": "genai-dev",
                "Body": ANY,
                "ContentType": "application/json",
                "Accept": "application/json",
            },
        )
        t = SageMakerRealtime(section(), runtime=rt)
        out = t.call(REQ, 30, None)
    assert out.outputs[0].data == PNG and out.server_s == pytest.approx(0.05)
    assert t.identity == "sagemaker:us-east-1/genai-dev"


def _sent_body(stub_rt, capture):
    def hook(params, **kwargs):
        capture.append(json.loads(params["Body"]))

    stub_rt.meta.events.register("before-parameter-build.sagemaker-runtime.InvokeEndpoint", hook)


def test_realtime_sends_the_sagemaker_envelope():
    rt = boto3.client("sagemaker-runtime", region_name="us-east-1", **CREDS)
    sent: list = []
    _sent_body(rt, sent)
    with Stubber(rt) as stub:
        stub.add_response(
            "invoke_endpoint", {"Body": body(json.dumps(contract_answer(PNG)).encode())}
        )
        SageMakerRealtime(section(), runtime=rt).call(REQ, 30, None)
    assert sent[0] == {
        "inputs": "a fox",
        "parameters": {
            "seed": 7,
            "num_inference_steps": 4,
            "guidance_scale": 7.5,
            "num_outputs": 1,
        },
    }


def model_error(status: int, message: str) -> dict:
    """The container's own answer, as SageMaker reports it inside ModelError."""
    return {"OriginalStatusCode": status, "OriginalMessage": message}


@pytest.mark.parametrize(
    ("code", "http", "modeled", "status", "retryable", "fallback"),
    [
        ("ModelError", 424, model_error(429, "queue full"), 429, True, True),
        ("ModelError", 424, model_error(400, "seed: bad"), 400, False, False),
        ("ModelError", 424, model_error(503, "loading"), 503, True, True),
        ("ModelNotReadyException", 429, None, 429, True, True),
        ("ServiceUnavailable", 503, None, 503, True, True),
        ("ValidationError", 400, None, 400, False, False),
        ("InternalFailure", 500, None, 500, False, True),
    ],
)  # fmt: skip
def test_realtime_errors_map_to_the_containers_status(
    code, http, modeled, status, retryable, fallback
):
    rt = boto3.client("sagemaker-runtime", region_name="us-east-1", **CREDS)
    with Stubber(rt) as stub:
        stub.add_client_error(
            "invoke_endpoint", service_error_code=code, service_message="m",
            http_status_code=http, modeled_fields=modeled,
        )  # fmt: skip
        with pytest.raises(CallError) as info:
            SageMakerRealtime(section(), runtime=rt).call(REQ, 30, None)
    e = info.value
    assert (e.status, e.retryable, e.fallback_ok) == (status, retryable, fallback)
    if modeled:
        assert modeled["OriginalMessage"] in e.message


def test_no_credentials_is_a_config_error(monkeypatch):
    from botocore.exceptions import NoCredentialsError

    class Runtime:
        def invoke_endpoint(self, **kw):
            raise NoCredentialsError()

    with pytest.raises(ConfigError, match="no AWS credentials in boto3's default chain"):
        SageMakerRealtime(section(), runtime=Runtime()).call(REQ, 30, None)


# -- async --------------------------------------------------------------------------------
@pytest.fixture
def s3():
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="genai-dev-bucket")
        yield client


def _async(s3, stub_rt) -> SageMakerAsync:
    sec = section(
        mode="async",
        bucket="genai-dev-bucket",
        async_input_uri="s3://genai-dev-bucket/async/inputs/",
        async_output_uri="s3://genai-dev-bucket/async/outputs/",
        async_failure_uri="s3://genai-dev-bucket/async/failures/",
    )
    return SageMakerAsync(sec, poll_s=0.5, runtime=stub_rt, s3=s3)


def test_async_uploads_input_invokes_and_reads_the_output(s3):
    rt = boto3.client("sagemaker-runtime", region_name="us-east-1", **CREDS)
    t = _async(s3, rt)
    seen_input: list = []
    sleeps: list = []
    progress: list = []

    def sleep(seconds):
        sleeps.append(seconds)
        # the endpoint finishes while the client waits: read the input, write the output
        keys = s3.list_objects_v2(Bucket="genai-dev-bucket", Prefix="async/inputs/")["Contents"]
        seen_input.append(
            json.loads(s3.get_object(Bucket="genai-dev-bucket", Key=keys[0]["Key"])["Body"].read())
        )
        if len(sleeps) == 2:
            s3.put_object(Bucket="genai-dev-bucket", Key="async/outputs/abc.out",
                          Body=json.dumps(contract_answer(PNG)).encode())  # fmt: skip

    t.sleep = sleep
    with Stubber(rt) as stub:
        stub.add_response(
            "invoke_endpoint_async",
            {
                "InferenceId": "abc",
                "OutputLocation": "s3://genai-dev-bucket/async/outputs/abc.out",
                "FailureLocation": "s3://genai-dev-bucket/async/failures/abc-error.out",
            },
            {
                "EndpointName": "genai-dev",
                "InputLocation": ANY,
                "ContentType": "application/json",
                "Accept": "application/json",
                "InvocationTimeoutSeconds": 600,
            },
        )
        answer = t.call(REQ, 600, progress.append)
    assert answer.outputs[0].data == PNG
    assert seen_input[0] == {"inputs": "a fox", "parameters": {"seed": 7, "num_inference_steps": 4,
                             "guidance_scale": 7.5, "num_outputs": 1}}  # fmt: skip
    assert sleeps == [0.5, 0.75] and progress and "waiting for the async output" in progress[0]
    # the input object was removed afterwards
    assert "Contents" not in s3.list_objects_v2(Bucket="genai-dev-bucket", Prefix="async/inputs/")


def test_async_failure_object_is_an_error_with_its_status(s3):
    rt = boto3.client("sagemaker-runtime", region_name="us-east-1", **CREDS)
    t = _async(s3, rt)
    err = {"error": {"code": 400, "field": "num_frames", "message": "num_frames: only for video"}}
    s3.put_object(
        Bucket="genai-dev-bucket", Key="async/failures/x-error.out", Body=json.dumps(err).encode()
    )
    t.sleep = lambda s: None
    with Stubber(rt) as stub:
        stub.add_response("invoke_endpoint_async", {
            "OutputLocation": "s3://genai-dev-bucket/async/outputs/x.out",
            "FailureLocation": "s3://genai-dev-bucket/async/failures/x-error.out",
        })  # fmt: skip
        with pytest.raises(CallError, match="num_frames: only for video") as info:
            t.call(REQ, 600, None)
    assert info.value.status == 400 and not info.value.fallback_ok


def test_async_gives_up_at_its_timeout(s3):
    rt = boto3.client("sagemaker-runtime", region_name="us-east-1", **CREDS)
    t = _async(s3, rt)
    t.sleep = lambda s: None
    t.poll_s = 5
    with Stubber(rt) as stub:
        stub.add_response(
            "invoke_endpoint_async", {"OutputLocation": "s3://genai-dev-bucket/async/outputs/y.out"}
        )
        with pytest.raises(CallError, match="no output after") as info:
            t.call(REQ, 3, None)
    assert info.value.timeout and info.value.fallback_ok


# -- Bedrock --------------------------------------------------------------------------------
def _bedrock(model: str, response: dict, **kw):
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", **CREDS)
    sent: list = []
    rt.meta.events.register(
        "before-parameter-build.bedrock-runtime.InvokeModel",
        lambda params, **_: sent.append(json.loads(params["body"])),
    )
    stub = Stubber(rt)
    stub.add_response(
        "invoke_model",
        {"body": body(json.dumps(response).encode()), "contentType": "application/json"},
        {
            "modelId": model,
            "body": ANY,
            "contentType": "application/json",
            "accept": "application/json",
        },
    )
    stub.activate()
    return Bedrock(model, "us-east-1", runtime=rt, **kw), sent


B64 = base64.b64encode(PNG).decode()


def test_bedrock_sdxl_body_and_artifacts():
    t, sent = _bedrock(
        "stability.stable-diffusion-xl-v1",
        {"result": "success", "artifacts": [{"seed": 7, "base64": B64, "finishReason": "SUCCESS"}]},
        style_preset="photographic",
    )
    req = GenerationRequest(prompt="a fox", negative_prompt="fog", seed=7, num_inference_steps=30,
                            width=1152, height=896)  # fmt: skip
    t.check(req)
    answer = t.call(req, 30, None)
    assert sent[0] == {
        "text_prompts": [{"text": "a fox", "weight": 1.0}, {"text": "fog", "weight": -1.0}],
        "cfg_scale": 7.5, "samples": 1, "seed": 7, "steps": 30, "width": 1152, "height": 896,
        "style_preset": "photographic",
    }  # fmt: skip
    assert answer.outputs[0].data == PNG and answer.outputs[0].seed == 7


def test_bedrock_stability_sd35_body_and_images():
    t, sent = _bedrock(
        "stability.sd3-5-large-v1:0", {"seeds": [7], "finish_reasons": [None], "images": [B64]}
    )
    req = GenerationRequest(prompt="a fox", seed=7, width=1280, height=720, output_format="jpeg")
    t.check(req)
    answer = t.call(req, 30, None)
    assert sent[0] == {"prompt": "a fox", "mode": "text-to-image", "seed": 7,
                       "aspect_ratio": "16:9", "output_format": "jpeg"}  # fmt: skip
    assert answer.outputs[0].content_type == "image/jpeg" and answer.outputs[0].seed == 7


def test_bedrock_stability_filtered_is_an_error():
    t, _ = _bedrock(
        "stability.stable-image-core-v1:1", {"finish_reasons": ["Filter reason: prompt"]}
    )
    with pytest.raises(CallError, match="Filter reason: prompt") as info:
        t.call(GenerationRequest(prompt="x"), 30, None)
    assert info.value.status == 422


def test_bedrock_nova_canvas_body_and_images():
    t, sent = _bedrock("amazon.nova-canvas-v1:0", {"images": [B64, B64]}, image_quality="premium")
    req = GenerationRequest(prompt="a fox", negative_prompt="fog", seed=7, guidance_scale=6.5,
                            num_outputs=2, width=1024, height=1024)  # fmt: skip
    t.check(req)
    answer = t.call(req, 30, None)
    assert sent[0] == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a fox", "negativeText": "fog"},
        "imageGenerationConfig": {"numberOfImages": 2, "width": 1024, "height": 1024,
                                  "cfgScale": 6.5, "seed": 7, "quality": "premium"},
    }  # fmt: skip
    assert len(answer.outputs) == 2


def test_bedrock_titan_error_field():
    t, _ = _bedrock("amazon.titan-image-generator-v2:0", {"images": [], "error": "blocked"})
    with pytest.raises(CallError, match="blocked"):
        t.call(GenerationRequest(prompt="x"), 30, None)


@pytest.mark.parametrize(
    ("model", "fields", "words"),
    [
        (
            "amazon.nova-canvas-v1:0",
            {"num_inference_steps": 30},
            "num_inference_steps: amazon.nova",
        ),
        ("amazon.nova-canvas-v1:0", {"seed": 900_000_000}, "seed: at most 858993459"),
        ("amazon.nova-canvas-v1:0", {"width": 1000, "height": 1000}, "320-4096 px in steps of 16"),
        ("amazon.nova-canvas-v1:0", {"num_outputs": 6}, "num_outputs: 1-5"),
        ("amazon.nova-canvas-v1:0", {"guidance_scale": 20.0}, "guidance_scale: 1.1-10"),
        ("amazon.nova-canvas-v1:0", {"output_format": "webp"}, "returns png"),
        ("amazon.nova-canvas-v1:0", {"prompt": "x" * 1025}, "prompt: at most 1024"),
        ("stability.sd3-5-large-v1:0", {"num_inference_steps": 30}, "picks its own"),
        ("stability.sd3-5-large-v1:0", {"width": 1000, "height": 600}, "takes an aspect ratio"),
        ("stability.sd3-5-large-v1:0", {"num_outputs": 2}, "one image per call"),
        (
            "stability.stable-diffusion-xl-v1",
            {"width": 512, "height": 512},
            "SDXL on Bedrock makes",
        ),
        ("stability.stable-diffusion-xl-v1", {"guidance_scale": 40.0}, "at most 35"),
        ("stability.stable-diffusion-xl-v1", {"image": B64, "strength": 0.5}, "image: bedrock"),
        ("us.stability.sd3-5-large-v1:0", {"num_frames": 8}, "num_frames: bedrock"),
    ],
)
def test_bedrock_refuses_what_it_cannot_honour(model, fields, words):
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", **CREDS)
    with Stubber(rt):  # no response queued: any call would fail the test
        t = Bedrock(model, "us-east-1", runtime=rt)
        with pytest.raises(UnsupportedRequest) as info:
            t.check(GenerationRequest(**{"prompt": "a fox", **fields}))
    assert words in info.value.message


def test_bedrock_throttling_is_retryable():
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", **CREDS)
    with Stubber(rt) as stub:
        stub.add_client_error("invoke_model", "ThrottlingException", "slow down", 429)
        with pytest.raises(CallError) as info:
            Bedrock("amazon.nova-canvas-v1:0", "us-east-1", runtime=rt).call(REQ, 30, None)
    assert info.value.status == 429 and info.value.retryable


def test_bedrock_unknown_family_and_misplaced_settings():
    with pytest.raises(ConfigError, match="knows Stability"):
        Bedrock("meta.llama3", "us-east-1")
    with pytest.raises(ConfigError, match="image_quality is for Nova Canvas / Titan only"):
        Bedrock("stability.sd3-5-large-v1:0", "us-east-1", image_quality="premium")
