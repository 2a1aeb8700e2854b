"""Bad requests get a 4xx naming the field, never reach the model, and the server keeps
serving afterwards."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from tests.helpers import half_mask_b64, png_b64
from tests.scoring.helpers import Served, post


def huge_png_header_b64() -> str:
    """A tiny file whose header claims 20000 x 20000 pixels: must be refused unread."""
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


BAD = [
    ({"prompt": "x", "image": "%%%not base64%%%"}, 400, "image", "not valid base64"),
    (
        {"prompt": "x", "image": base64.b64encode(b"hello").decode()},
        400,
        "image",
        "PNG, JPEG, WebP",
    ),
    (
        {"prompt": "x", "image": png_b64(64, 64), "mask": half_mask_b64(32, 32)},
        400,
        "mask",
        "differs",
    ),
    ({"prompt": "x", "image": huge_png_header_b64()}, 400, "image", "too large"),
    ({"prompt": "x", "width": 4096, "height": 4096}, 400, "width", "at most 2048"),
    (
        {"prompt": "x", "image": png_b64(1024, 1024), "outpaint": {"left": 512}},
        400,
        "outpaint",
        "at most",
    ),
    ({"prompt": "x", "num_inference_steps": 0}, 400, "num_inference_steps", ">= 1"),
    ({"prompt": "x", "num_inference_steps": 100_000}, 400, "num_inference_steps", "between 1 and"),
    ({"prompt": "x", "num_frames": 8}, 422, "task", "cannot do text-to-video"),
    ({"prompt": "x", "unknown_knob": 1}, 400, "unknown_knob", "allowed fields"),
]


@pytest.mark.parametrize(("request_", "status", "field", "words"), BAD)
def test_bad_request_is_refused_before_the_model(spied, request_, status, field, words):
    scorer, calls = spied
    ans = post(scorer, json.dumps(request_).encode())
    assert ans.status == status, ans.body
    err = ans.json()["error"]
    assert err["field"] == field
    assert words.replace(">= 1", "greater than or equal to 1") in err["message"]
    assert calls == []
    # and the server keeps serving
    ok = post(scorer, json.dumps({"prompt": "x", "num_inference_steps": 1}).encode())
    assert ok.status == 200
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b'"just a string"', "application/json", 400),
        (b"prompt=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_bodies_that_are_not_a_json_object(spied, body, content_type, status):
    scorer, calls = spied
    ans = post(scorer, body, content_type)
    assert ans.status == status
    assert "message" in ans.json()["error"]
    assert calls == []


def test_oversize_body_is_413(spied):
    scorer, calls = spied
    body = json.dumps({"prompt": "x" * (scorer.limits.max_request_bytes + 1)}).encode()
    ans = post(scorer, body)
    assert ans.status == 413 and calls == []


def test_unacceptable_accept_header_is_406(spied):
    scorer, calls = spied
    ans = post(scorer, b'{"prompt": "x"}', accept="text/html")
    assert ans.status == 406 and "application/json" in ans.json()["error"]["message"]
    ans = post(scorer, b'{"prompt": "x", "num_outputs": 2}', accept="image/png")
    assert ans.status == 406
    assert calls == []


def test_one_bad_instance_refuses_the_batch_before_any_generation(spied):
    scorer, calls = spied
    body = {"instances": [{"prompt": "ok"}, {"prompt": "bad", "width": 3}]}
    ans = post(scorer, json.dumps(body).encode())
    assert ans.status == 400 and "width" in ans.json()["error"]["message"]
    assert calls == []


def test_internal_failure_is_500_without_internals(image_scorer, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("CUDA error: secret/path/on/host")

    monkeypatch.setattr(image_scorer.engine, "generate", boom)
    served = Served(image_scorer)
    ans = served.post(b'{"prompt": "x", "num_inference_steps": 1}')
    assert ans.status == 500 and "secret" not in ans.body.decode()
    # the GPU was released: the next request is not stuck behind the failed one
    assert served.idle
    served.close()
