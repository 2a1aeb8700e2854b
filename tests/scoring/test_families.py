"""Every model family end to end on its tiny model: built offline, recognised without torch,
loaded by the engine, every task it supports, and every cloud contract over HTTP."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genai_endpoints.cli import app
from model_packages.build import build_packages
from model_packages.staging import stage_local
from scoring.compose import FEATHER_RADIUS
from scoring.families import Family
from tests.helpers import decode_output, half_mask_b64
from tests.scoring.helpers import post
from tests.scoring.server.helpers import in_process_servers

FAMILIES = ["sd", "sdxl", "sd3", "flux", "video"]
IMAGE_FAMILIES = ["sd", "sdxl", "sd3", "flux"]
CLOUDS = ("sagemaker", "vertex", "azureml")
PIPELINES = {
    "sd": "StableDiffusionPipeline",
    "sdxl": "StableDiffusionXLPipeline",
    "sd3": "StableDiffusion3Pipeline",
    "flux": "FluxPipeline",
    "video": "TextToVideoSDPipeline",
}
DERIVED = {
    "sd": ("StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"),
    "sdxl": ("StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline"),
    "sd3": ("StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline"),
    "flux": ("FluxImg2ImgPipeline", "FluxInpaintPipeline"),
}


def textured(width: int = 64, height: int = 64, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def engines(tiny_family):
    """One engine per family, loaded once for this module."""
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    loaded: dict = {}

    def get(family: str):
        if family not in loaded:
            loaded[family] = Engine(
                EngineSettings(
                    model_dir=tiny_family(family), model_id=f"tiny/{family}", device="cpu"
                )
            )
        return loaded[family]

    return get


def call(engine, **request):
    from scoring.service import Scorer

    return post(Scorer(engine), json.dumps(request).encode(), "application/json", None)


def test_family_is_read_from_model_index_without_torch(tiny_family):
    paths = {f: str(tiny_family(f)) for f in FAMILIES}
    code = (
        "import json, sys\n"
        "from model_packages.staging import model_family, model_tasks\n"
        f"paths = {paths!r}\n"
        "out = {f: [model_family(p).value, list(model_tasks(p))] for f, p in paths.items()}\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert {f: v[0] for f, v in found.items()} == {f: f for f in FAMILIES}
    assert found["video"][1] == ["text-to-video"]
    assert found["flux"][1] == ["image-to-image", "inpainting", "outpainting", "text-to-image"]


@pytest.mark.parametrize("family", FAMILIES)
def test_engine_loads_the_real_pipeline_classes(engines, tiny_family, family):
    engine = engines(family)
    assert engine.family is Family(family)
    assert type(engine.base).__name__ == PIPELINES[family]
    index = json.loads((tiny_family(family) / "model_index.json").read_text())
    assert index["_class_name"] == PIPELINES[family]
    # the tasks the manifest promises are the ones the engine derived
    assert {t.value for t in engine.info.tasks} == set(stage_local(tiny_family(family)).tasks)
    if family in DERIVED:
        names = tuple(type(engine.pipeline_for(t)).__name__ for t in engine.info.tasks)
        assert set(DERIVED[family]) <= set(names)


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_every_image_task(engines, family):
    engine = engines(family)
    common = dict(prompt="a lighthouse", negative_prompt="fog", num_inference_steps=2, seed=3)
    t2i = call(engine, width=64, height=64, **common)
    assert t2i.status == 200, t2i.body
    assert decode_output(t2i.json()).size == (64, 64)
    again = call(engine, width=64, height=64, **common)
    assert again.json()["outputs"][0]["data"] == t2i.json()["outputs"][0]["data"]

    src = textured()
    i2i = call(engine, image=b64(src), strength=0.5, **common)
    assert i2i.status == 200, i2i.body
    assert i2i.json()["metadata"]["task"] == "image-to-image"
    assert decode_output(i2i.json()).size == (64, 64)

    inp = call(engine, image=b64(src), mask=half_mask_b64(), **common)
    assert inp.status == 200, inp.body
    out = np.asarray(decode_output(inp.json()).convert("RGB"))
    keep = 32 - FEATHER_RADIUS
    assert (out[:, :keep] == np.asarray(src)[:, :keep]).all()

    outp = call(engine, image=b64(src), outpaint={"left": 16, "top": 16}, **common)
    assert outp.status == 200, outp.body
    out = np.asarray(decode_output(outp.json()).convert("RGB"))
    assert out.shape == (80, 80, 3)
    r = FEATHER_RADIUS
    assert (out[16 + r :, 16 + r :] == np.asarray(src)[r:, r:]).all()

    video = call(engine, task="text-to-video", prompt="x")
    assert video.status == 422


def test_video_family(engines):
    engine = engines("video")
    ans = call(engine, prompt="waves", num_frames=4, num_inference_steps=2, width=64, height=64)
    assert ans.status == 200, ans.body
    assert ans.json()["outputs"][0]["content_type"] == "video/mp4"
    assert call(engine, prompt="x", image=b64(textured())).status == 422


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_transformer_families_need_sides_in_multiples_of_16(engines, family):
    engine = engines(family)
    ans = call(engine, prompt="x", width=72, height=64, num_inference_steps=2)
    assert ans.status == 400
    error = ans.json()["error"]
    assert error["field"] == "width" and "multiples of 16" in error["message"]
    ans = call(engine, prompt="x", image=b64(textured(72, 64)), num_inference_steps=2)
    assert ans.status == 400 and ans.json()["error"]["field"] == "image"
    ans = call(
        engine, prompt="x", image=b64(textured()), outpaint={"left": 8}, num_inference_steps=2
    )
    assert ans.status == 400 and ans.json()["error"]["field"] == "outpaint"


def test_flow_matching_families_keep_their_scheduler(engines):
    assert type(engines("sd").base.scheduler).__name__ == "DPMSolverMultistepScheduler"
    for family in ("sd3", "flux"):
        assert type(engines(family).base.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"


def test_tiny_model_command_builds_each_family(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["tiny-model", str(tmp_path / "flux"), "--family", "flux"])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "flux" / "model_index.json").read_text())
    assert index["_class_name"] == "FluxPipeline"
    assert (tmp_path / "flux" / "tokenizer_2" / "tokenizer.json").is_file()  # T5, no spiece
    result = runner.invoke(app, ["tiny-model", str(tmp_path / "v"), "--task", "text-to-video"])
    assert result.exit_code == 0, result.output
    assert "TextToVideoSDPipeline" in (tmp_path / "v" / "model_index.json").read_text()
    result = runner.invoke(
        app, ["tiny-model", str(tmp_path / "x"), "--task", "text-to-video", "--family", "sd"]
    )
    assert result.exit_code == 2 and "--task text-to-video means --family video" in result.output
    result = runner.invoke(
        app, ["tiny-model", str(tmp_path / "h"), "--family", "sdxl", "--variant", "fp16"]
    )
    assert result.exit_code == 0, result.output
    weights = sorted(p.name for p in (tmp_path / "h").rglob("*.safetensors"))
    assert len(weights) == 4 and all(w.endswith(".fp16.safetensors") for w in weights)


def test_rebuild_is_byte_identical(tiny_family, tmp_path):
    from scoring.tiny import build_tiny_model

    for family in ("sdxl", "flux"):
        again = build_tiny_model(tmp_path / family, family)
        first = tiny_family(family)
        files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
        assert all((first / f).read_bytes() == (again / f).read_bytes() for f in files)


# --- over HTTP, under each cloud's contract -----------------------------------------------


def envelope(cloud: str, request: dict) -> dict:
    rest = {k: v for k, v in request.items() if k != "prompt"}
    if cloud == "sagemaker":
        return {"inputs": request["prompt"], "parameters": rest}
    if cloud == "vertex":
        return {"instances": [{"prompt": request["prompt"]}], "parameters": rest}
    return request


def first_output(cloud: str, body: dict) -> dict:
    return (body["predictions"][0] if cloud == "vertex" else body)["outputs"][0]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_every_contract_serves_the_family(tiny_family, tmp_path, family):
    # SDXL as many Hub checkpoints ship it: fp16 weights only
    model = tiny_family(family, ("fp16",) if family == "sdxl" else (None,))
    manifests = build_packages(stage_local(model), list(CLOUDS), tmp_path / "pkg")
    assert manifests["vertex"].model.tasks == list(Family(family).tasks)
    src = textured(seed=4)
    if family == "video":
        requests = [{"prompt": "waves", "num_frames": 4, "num_inference_steps": 2}]
    else:
        common = {"prompt": "a lighthouse", "num_inference_steps": 2, "seed": 1}
        requests = [
            {**common, "width": 64, "height": 64},
            {**common, "image": b64(src), "mask": half_mask_b64()},
        ]
    # each contract's app (routes, envelope, answer) over the one model the package holds
    servers = in_process_servers(tmp_path / "pkg")
    for cloud, server in servers.items():
        for request in requests:
            reply = server.predict(envelope(cloud, request))
            assert reply.status == 200, (cloud, reply.body[:500])
            out = first_output(cloud, reply.json())
            data = base64.b64decode(out["data"])
            if family == "video":
                assert out["content_type"] == "video/mp4"
                continue
            img = Image.open(io.BytesIO(data)).convert("RGB")
            assert img.size == (64, 64)
            if "mask" in request:  # the kept half comes back exactly, on every contract
                keep = 32 - FEATHER_RADIUS
                assert (np.asarray(img)[:, :keep] == np.asarray(src)[:, :keep]).all()
