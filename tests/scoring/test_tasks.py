"""Every task end to end on the tiny models, through the same path the servers use."""

from __future__ import annotations

import base64
import io
import json

import imageio.v3 as iio
import pytest
from PIL import Image

from tests.helpers import decode_output, half_mask_b64, png_b64
from tests.scoring.helpers import post


def call(scorer, accept=None, **request):
    return post(scorer, json.dumps(request).encode(), "application/json", accept)


def test_text_to_image_png_of_requested_size(image_scorer):
    ans = call(image_scorer, prompt="a red fox", width=96, height=64, num_inference_steps=3, seed=7)
    assert ans.status == 200, ans.body
    body = ans.json()
    img = decode_output(body)
    assert img.format == "PNG" and img.size == (96, 64)
    meta = body["metadata"]
    assert meta["task"] == "text-to-image"
    assert meta["seeds"] == [7]
    assert meta["model_id"] == "tiny/t2i" and meta["model_revision"] == "test"
    assert set(meta["timings_ms"]) == {"queued", "inference", "encode"}


@pytest.mark.parametrize(("fmt", "pil_name"), [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_image_formats(image_scorer, fmt, pil_name):
    ans = call(image_scorer, prompt="x", num_inference_steps=2, output_format=fmt)
    assert ans.status == 200, ans.body
    assert ans.json()["outputs"][0]["content_type"] == f"image/{fmt}"
    assert decode_output(ans.json()).format == pil_name


def test_several_outputs_each_with_its_own_seed(image_scorer):
    ans = call(image_scorer, prompt="x", num_inference_steps=2, num_outputs=3, seed=10)
    outs = ans.json()["outputs"]
    assert [o["seed"] for o in outs] == [10, 11, 12]
    assert len({o["data"] for o in outs}) == 3
    # output i is reproducible alone: seed 11 with one output gives output 1's bytes
    alone = call(image_scorer, prompt="x", num_inference_steps=2, seed=11)
    assert alone.json()["outputs"][0]["data"] == outs[1]["data"]


def test_image_to_image_keeps_input_size_unless_asked(image_scorer):
    ans = call(image_scorer, prompt="x", image=png_b64(80, 72), num_inference_steps=4)
    assert ans.status == 200, ans.body
    assert ans.json()["metadata"]["task"] == "image-to-image"
    assert decode_output(ans.json()).size == (80, 72)
    ans = call(
        image_scorer, prompt="x", image=png_b64(80, 72), width=64, height=128, num_inference_steps=4
    )
    assert decode_output(ans.json()).size == (64, 128)


def test_image_to_image_strength_changes_the_result(image_scorer):
    base = dict(prompt="x", image=png_b64(), num_inference_steps=10, seed=3)
    weak = call(image_scorer, strength=0.2, **base).json()["outputs"][0]["data"]
    strong = call(image_scorer, strength=1.0, **base).json()["outputs"][0]["data"]
    assert weak != strong


def test_inpainting_keeps_unmasked_half_close_to_input(image_scorer):
    src = png_b64(64, 64, color=(10, 200, 30))
    ans = call(
        image_scorer, prompt="x", image=src, mask=half_mask_b64(), num_inference_steps=4, seed=1
    )
    assert ans.status == 200, ans.body
    assert ans.json()["metadata"]["task"] == "inpainting"
    out = decode_output(ans.json()).convert("RGB")
    assert out.size == (64, 64)
    # the VAE round trip of random weights is lossy, but kept pixels are pasted back
    # from the latents of the input: the kept half must differ from the repainted half
    left = out.crop((0, 0, 32, 64)).getdata()
    right = out.crop((32, 0, 64, 64)).getdata()
    assert list(left) != list(right)


def test_outpainting_grows_the_canvas(image_scorer):
    ans = call(
        image_scorer,
        prompt="x",
        image=png_b64(64, 64),
        outpaint={"left": 16, "right": 8, "top": 0, "bottom": 24},
        num_inference_steps=3,
    )
    assert ans.status == 200, ans.body
    assert ans.json()["metadata"]["task"] == "outpainting"
    assert decode_output(ans.json()).size == (64 + 16 + 8, 64 + 24)


def test_text_to_video_mp4_is_playable(video_scorer):
    ans = call(video_scorer, prompt="a wave", num_frames=8, fps=4, num_inference_steps=2, seed=5)
    assert ans.status == 200, ans.body
    out = ans.json()["outputs"][0]
    assert out["content_type"] == "video/mp4"
    data = base64.b64decode(out["data"])
    frames = iio.imread(data, extension=".mp4", plugin="pyav" if _has_pyav() else None)
    assert frames.shape[0] == 8 and frames.shape[1:3] == (64, 64)
    assert ans.json()["metadata"]["num_frames"] == 8


def test_text_to_video_gif(video_scorer):
    ans = call(video_scorer, prompt="x", num_frames=4, output_format="gif", num_inference_steps=2)
    gif = Image.open(io.BytesIO(base64.b64decode(ans.json()["outputs"][0]["data"])))
    assert gif.format == "GIF" and gif.n_frames == 4


def test_video_model_infers_its_task_from_a_plain_azure_style_body(video_scorer):
    ans = call(video_scorer, prompt="x", num_frames=8, num_inference_steps=1)
    assert ans.status == 200, ans.body
    assert ans.json()["metadata"]["task"] == "text-to-video"


def test_raw_bytes_when_the_caller_accepts_an_image(image_scorer):
    ans = call(image_scorer, accept="image/webp", prompt="x", num_inference_steps=2, seed=4)
    assert ans.status == 200 and ans.content_type == "image/webp"
    assert Image.open(io.BytesIO(ans.body)).format == "WEBP"
    assert ans.headers["X-Genai-Seed"] == "4"


def test_raw_accept_conflicting_with_output_format_is_406(image_scorer):
    ans = call(image_scorer, accept="image/png", prompt="x", output_format="jpeg")
    assert ans.status == 406


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_dtype_override_reaches_the_weights(tiny_image_model):
    import torch

    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    engine = Engine(EngineSettings(model_dir=tiny_image_model, dtype="bfloat16", device="cpu"))
    assert engine.base.unet.dtype == torch.bfloat16
    assert engine.pipeline_for(engine.info.default_task).vae.dtype == torch.bfloat16
