"""The request schema on its own: limits, defaults, messages, unknown fields; fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.errors import RequestError, ScoringError, UnsupportedTask
from scoring.schema import FIELDS, ModelInfo, OutputFormat, Task, parse_request, resolve
from scoring.settings import Limits

IMAGE_MODEL = ModelInfo(
    model_id="m",
    revision="r",
    tasks=frozenset({Task.TEXT_TO_IMAGE, Task.IMAGE_TO_IMAGE, Task.INPAINTING, Task.OUTPAINTING}),
    default_width=512,
    default_height=512,
)
VIDEO_MODEL = ModelInfo("v", "r", frozenset({Task.TEXT_TO_VIDEO}), 256, 256)
LIMITS = Limits()


def check(data: dict, info: ModelInfo = IMAGE_MODEL, limits: Limits = LIMITS):
    return resolve(parse_request(data), info, limits)


def refused(data: dict, info: ModelInfo = IMAGE_MODEL, limits: Limits = LIMITS) -> RequestError:
    with pytest.raises(ScoringError) as exc:
        check(data, info, limits)
    assert 400 <= exc.value.status < 500
    return exc.value


def test_defaults_follow_the_model():
    req = check({"prompt": "a cat"})
    assert req.task is Task.TEXT_TO_IMAGE
    assert (req.width, req.height) == (512, 512)
    assert req.output_format is OutputFormat.PNG
    video = check({"prompt": "a wave"}, VIDEO_MODEL)
    assert video.task is Task.TEXT_TO_VIDEO and video.output_format is OutputFormat.MP4
    assert video.num_frames == 16


@pytest.mark.parametrize(
    ("extra", "task"),
    [
        ({"image": "aGk="}, Task.IMAGE_TO_IMAGE),
        ({"image": "aGk=", "mask": "aGk="}, Task.INPAINTING),
        ({"image": "aGk=", "outpaint": {"left": 64}}, Task.OUTPAINTING),
    ],
)
def test_task_is_inferred_from_the_fields(extra, task):
    assert check({"prompt": "x", **extra}).task is task


@pytest.mark.parametrize(
    ("data", "field", "allowed"),
    [
        (
            {"prompt": "x", "num_inference_steps": 0},
            "num_inference_steps",
            "greater than or equal to 1",
        ),
        (
            {"prompt": "x", "num_inference_steps": 10_000},
            "num_inference_steps",
            "between 1 and 100",
        ),
        ({"prompt": "x", "width": 4096, "height": 4096}, "width", "at most 2048"),
        ({"prompt": "x", "width": 2048, "height": 2048}, "width", "at most 1048576 pixels"),
        ({"prompt": "x", "width": 100}, "width", "multiple of 8"),
        ({"prompt": "x", "num_outputs": 9}, "num_outputs", "between 1 and 4"),
        ({"prompt": "x", "guidance_scale": float("nan")}, "guidance_scale", "finite"),
        ({"prompt": "x", "seed": -1}, "seed", "greater than or equal to 0"),
        ({"prompt": "x", "seed": 2**40}, "seed", "less than or equal to"),
        ({"prompt": ""}, "prompt", "at least 1 character"),
        ({"steps": 3}, "prompt", "required"),
        ({"prompt": "x", "colour": "red"}, "colour", "allowed fields: task, prompt"),
        ({"prompt": "x", "task": "paint"}, "task", "text-to-image"),
        ({"prompt": "x", "output_format": "bmp"}, "output_format", "'png'"),
        ({"prompt": "x", "output_format": "mp4"}, "output_format", "png, jpeg, webp"),
        ({"prompt": "x", "task": "image-to-image"}, "image", "required for image-to-image"),
        ({"prompt": "x", "task": "inpainting", "image": "aGk="}, "mask", "required"),
        ({"prompt": "x", "mask": "aGk="}, "mask", "only used by inpainting"),
        ({"prompt": "x", "strength": 0.5}, "strength", "only used with an input image"),
        ({"prompt": "x", "strength": 1.5}, "strength", "less than or equal to 1"),
        ({"prompt": "x", "image": "aGk=", "strength": 0.01}, "strength", "at least 1"),
        ({"prompt": "x", "outpaint": {"left": 7}}, "outpaint.left", "multiple of 8"),
        ({"prompt": "x", "outpaint": {"up": 8}}, "outpaint.up", "left, right, top, bottom"),
        ({"prompt": "x", "task": "outpainting", "image": "aGk="}, "outpaint", "at least one"),
    ],
)
def test_bad_fields_are_named_with_what_is_allowed(data, field, allowed):
    err = refused(data)
    assert err.field == field
    assert err.message.startswith(f"{field}:") or f"; {field}:" in err.message
    assert allowed in err.message


def test_every_problem_is_reported_at_once():
    err = refused({"prompt": "x", "width": 7, "num_inference_steps": 0, "foo": 1})
    for field in ("width", "num_inference_steps", "foo"):
        assert f"{field}:" in err.message


def test_video_fields_on_an_image_model():
    err = refused({"prompt": "x", "task": "text-to-image", "num_frames": 8})
    assert err.field == "num_frames"


def test_wrong_task_for_the_model_is_422_and_lists_what_it_can_do():
    with pytest.raises(UnsupportedTask) as exc:
        check({"prompt": "x", "num_frames": 8})
    assert exc.value.status == 422
    assert "can do: image-to-image, inpainting, outpainting, text-to-image" in exc.value.message
    with pytest.raises(UnsupportedTask):
        check({"prompt": "x", "task": "inpainting", "image": "aGk=", "mask": "aGk="}, VIDEO_MODEL)


def test_limits_are_deployment_settings(monkeypatch):
    monkeypatch.setenv("GENAI_MAX_STEPS", "20")
    monkeypatch.setenv("GENAI_MAX_FRAMES", "8")
    limits = Limits()
    assert limits.max_steps == 20
    assert (
        "between 1 and 20"
        in refused({"prompt": "x", "num_inference_steps": 21}, limits=limits).message
    )
    assert refused({"prompt": "x", "num_frames": 9}, VIDEO_MODEL, limits).field == "num_frames"
    assert check({"prompt": "x", "num_frames": 8}, VIDEO_MODEL, limits).num_frames == 8


def test_non_object_request():
    with pytest.raises(RequestError, match="JSON object"):
        parse_request(["a", "list"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*FIELDS, "extra"]), json_values, max_size=8))
def test_fuzz_any_json_object_is_accepted_or_refused_cleanly(data):
    """No input makes validation raise anything but a 4xx error that names a field."""
    try:
        check(data)
    except ScoringError as err:
        assert 400 <= err.status < 500
        assert err.message and ":" in err.message
