"""Same request and seed on the same hardware give the same bytes; another seed doesn't."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from scoring.encoders import encode
from scoring.schema import OutputFormat
from tests.scoring.helpers import post


def outputs(scorer, **request):
    ans = post(scorer, json.dumps(request).encode())
    assert ans.status == 200, ans.body
    return [o["data"] for o in ans.json()["outputs"]]


def test_same_seed_same_bytes_different_seed_different_bytes(image_scorer):
    req = dict(prompt="a lighthouse", num_inference_steps=3, seed=1234)
    assert outputs(image_scorer, **req) == outputs(image_scorer, **req)
    assert outputs(image_scorer, **req) != outputs(image_scorer, **{**req, "seed": 1235})


def test_same_bytes_after_reloading_the_model(image_scorer, tiny_image_model):
    from scoring.engine import Engine
    from scoring.service import Scorer
    from scoring.settings import EngineSettings

    req = dict(prompt="a lighthouse", num_inference_steps=3, seed=99, output_format="webp")
    fresh = Scorer(Engine(EngineSettings(model_dir=tiny_image_model)))
    assert outputs(image_scorer, **req) == outputs(fresh, **req)


def test_image_tasks_are_deterministic(image_scorer):
    from tests.helpers import half_mask_b64, png_b64

    for extra in (
        {"image": png_b64()},
        {"image": png_b64(), "mask": half_mask_b64()},
        {"image": png_b64(), "outpaint": {"right": 16}},
    ):
        req = dict(prompt="x", num_inference_steps=4, seed=8, **extra)
        assert outputs(image_scorer, **req) == outputs(image_scorer, **req)
        assert outputs(image_scorer, **req) != outputs(image_scorer, **{**req, "seed": 9})


def test_video_is_deterministic_in_mp4_and_gif(video_scorer):
    for fmt in ("mp4", "gif"):
        req = dict(prompt="x", num_frames=4, num_inference_steps=2, seed=3, output_format=fmt)
        assert outputs(video_scorer, **req) == outputs(video_scorer, **req)
        assert outputs(video_scorer, **req) != outputs(video_scorer, **{**req, "seed": 4})


def test_encoders_are_byte_stable():
    frames = [Image.new("RGB", (64, 48), (i * 30, 100, 200 - i * 20)) for i in range(6)]
    for fmt in OutputFormat:
        first = encode(frames, fmt, fps=8)
        assert first == encode(frames, fmt, fps=8), fmt
        assert len(first) > 0


def _gradient_png_b64() -> str:
    """A smooth input: the VAE encoder's GroupNorm on it is where thread counts showed."""
    import base64
    import io

    img = Image.radial_gradient("L").convert("RGB").resize((64, 64))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_same_bytes_with_one_and_two_cpu_threads(image_scorer, video_scorer):
    """Issue 10, repro 10: seeds 0-2 of text-to-image and image-to-image all differed
    between 1 and 2 threads before (MKL gemm, oneDNN 1x1 conv, channels-last GroupNorm)."""
    import torch

    image = _gradient_png_b64()
    cases = [
        (image_scorer, dict(prompt="a lighthouse", num_inference_steps=2, seed=s)) for s in (0, 1)
    ]
    cases += [(image_scorer, dict(prompt="x", image=image, num_inference_steps=3, seed=0))]
    cases += [(video_scorer, dict(prompt="x", num_frames=2, num_inference_steps=1, seed=0))]
    saved = torch.get_num_threads()
    try:
        runs = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs[threads] = [outputs(scorer, **req) for scorer, req in cases]
    finally:
        torch.set_num_threads(saved)
    assert runs[1] == runs[2]


def test_cpu_math_is_set_up_for_reproducibility(image_engine):
    import torch

    from scoring import determinism

    assert torch.backends.mkldnn.enabled is False
    if determinism.mkl_strict() is None:
        pytest.skip("this torch has no MKL")
    assert image_engine.determinism["mkl_strict"] is True
