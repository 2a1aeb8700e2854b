"""Each package served over HTTP on loopback by the runtime's server under its cloud's
contract, called with the payloads that cloud's real clients send."""

from __future__ import annotations

import base64
import io
import json
import shutil

import imageio_ffmpeg
import pytest
from PIL import Image

from genai_endpoints.commands.rehearsal import package_server
from model_packages.build import build_packages
from model_packages.staging import stage_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sagemaker(image_packages, tmp_path_factory):
    with package_server(
        "sagemaker", image_packages / "sagemaker", tmp_path_factory.mktemp("logs")
    ) as s:
        yield s


@pytest.fixture(scope="module")
def vertex(image_packages, tmp_path_factory):
    with package_server("vertex", image_packages / "vertex", tmp_path_factory.mktemp("logs")) as s:
        yield s


def decode(data_b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_b64)))


def test_sagemaker_inputs_parameters(sagemaker):
    payload = {
        "inputs": "a lighthouse",
        "parameters": {"num_inference_steps": 30, "guidance_scale": 7.5, "height": 64, "width": 64},
    }
    reply = sagemaker.predict(payload)
    assert reply.status == 200, reply.body[:500]
    body = reply.json()
    img = decode(body["outputs"][0]["data"])
    assert img.size == (64, 64) and img.format == "PNG"
    assert body["metadata"]["model_revision"].startswith("local-")


def test_sagemaker_raw_bytes_by_accept(sagemaker):
    reply = sagemaker.predict(
        {"inputs": "x", "parameters": {"num_inference_steps": 2}}, "image/jpeg"
    )
    assert reply.status == 200 and reply.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(reply.body)).format == "JPEG"


def test_sagemaker_bad_input_is_4xx_and_keeps_serving(sagemaker):
    reply = sagemaker.predict({"inputs": "x", "parameters": {"num_inference_steps": 0}})
    assert reply.status == 400
    assert "num_inference_steps" in reply.json()["error"]["message"]
    reply = sagemaker.predict({"inputs": "x", "parameters": {"num_frames": 8}})
    assert reply.status == 422
    assert (
        sagemaker.predict({"inputs": "x", "parameters": {"num_inference_steps": 1}}).status == 200
    )


def test_vertex_instances_parameters(vertex):
    payload = {
        "instances": [{"prompt": "a lighthouse"}, {"prompt": "a cat", "seed": 3}],
        "parameters": {"num_inference_steps": 3, "width": 96, "height": 64},
    }
    reply = vertex.predict(payload)
    assert reply.status == 200, reply.body[:500]
    predictions = reply.json()["predictions"]
    assert len(predictions) == 2
    assert all(decode(p["outputs"][0]["data"]).size == (96, 64) for p in predictions)
    assert predictions[1]["metadata"]["seeds"] == [3]


def test_vertex_bad_input_is_4xx_and_keeps_serving(vertex):
    reply = vertex.predict({"instances": [{"prompt": "x", "image": "%%%"}]})
    assert reply.status == 400 and "image" in reply.json()["error"]["message"]
    assert (
        vertex.predict({"instances": ["x"], "parameters": {"num_inference_steps": 1}}).status == 200
    )


def test_the_same_request_gives_the_same_bytes_on_both(sagemaker, vertex):
    params = {"num_inference_steps": 3, "seed": 11}
    a = sagemaker.predict({"inputs": "same", "parameters": params}).json()["outputs"][0]["data"]
    b = vertex.predict({"instances": ["same"], "parameters": params}).json()
    assert a == b["predictions"][0]["outputs"][0]["data"]


def test_azureml_video(tiny_video_model, tmp_path):
    build_packages(stage_local(tiny_video_model), ["azureml"], tmp_path)
    with package_server("azureml", tmp_path / "azureml", tmp_path / "logs") as azure:
        reply = azure.predict({"prompt": "waves", "num_frames": 8, "num_inference_steps": 2})
        assert reply.status == 200, reply.body[:500]
        out = reply.json()["outputs"][0]
        assert out["content_type"] == "video/mp4"
        video = tmp_path / "v.mp4"
        video.write_bytes(base64.b64decode(out["data"]))
        assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] == 8
        # bad input: 4xx, and it keeps serving
        bad = azure.predict({"prompt": "x", "num_frames": 10_000})
        assert bad.status == 400 and "num_frames" in bad.body.decode()
        raw = azure.predict({"prompt": "x", "num_frames": 4, "num_inference_steps": 1}, "image/gif")
        assert raw.status == 200 and raw.content_type.startswith("image/gif")
        assert Image.open(io.BytesIO(raw.body)).n_frames == 4


@pytest.mark.parametrize("cloud", ["sagemaker", "vertex", "azureml"])
def test_corrupted_weight_fails_readiness_naming_the_file(image_packages, tmp_path, cloud):
    pkg = tmp_path / cloud
    shutil.copytree(image_packages / cloud, pkg)  # a real copy: the fixture's files stay intact
    victim = pkg / "model" / "vae" / "diffusion_pytorch_model.safetensors"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with package_server(cloud, pkg, tmp_path / "logs", expect_ready=False) as server:
        reply = server.health()
        assert reply.status == 503
        assert "vae/diffusion_pytorch_model.safetensors" in json.loads(reply.body)["error"]


def test_rehearse_from_a_fresh_folder_with_relative_paths(tiny_image_model, tmp_path):
    """The offline main job as a new user runs it: from another folder, relative --out;
    exit 0, three outputs, identical bytes, "same" for every cloud."""
    import subprocess
    import sys

    model = tmp_path / "model"
    shutil.copytree(tiny_image_model, model)
    proc = subprocess.run(
        [sys.executable, "-m", "genai_endpoints", "rehearse", "--model-dir", "model",
         "--out", "build/rehearsal", "--steps", "2"],
        capture_output=True, text=True, timeout=400, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all three answered, with the same bytes" in proc.stdout
    assert proc.stdout.count("same") >= 4  # a "same" per cloud row, and the summary
    out = tmp_path / "build" / "rehearsal"
    outputs = [(out / f"{c}.png").read_bytes() for c in ("sagemaker", "vertex", "azureml")]
    assert outputs[0] == outputs[1] == outputs[2]


def test_same_bytes_column_ignores_clouds_that_failed():
    from genai_endpoints.commands.rehearsal import same_bytes

    assert same_bytes("sagemaker", {"sagemaker": b"a", "vertex": b"a"}) == "same"
    assert "differs from vertex" in same_bytes("sagemaker", {"sagemaker": b"a", "vertex": b"b"})
    assert same_bytes("vertex", {"vertex": b"a"}) == "-"
