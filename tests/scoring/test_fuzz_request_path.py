"""Fuzz of the whole request path short of the model: bytes -> parse -> validate -> prepare.

Mutated requests (wrong types, huge numbers, bad text, deep or wide JSON, broken images,
every envelope, truncated bodies, odd content types) must either give a job the model can
run or one of the project's own 4xx errors naming its field, and a refused request must
cost under 50 ms of CPU and under 10 MB of memory (Python's, and the process's RSS)."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.errors import ScoringError
from scoring.schema import FIELDS
from tests.helpers import half_mask_b64, png_b64

PNG = png_b64(64, 64)
MASK = half_mask_b64(64, 64)
HUGE_HEADER_PNG = None  # built lazily: a 20000 x 20000 PNG compresses to a few KB

BIG = [2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**64, 10**30, -(2**63)]
NUMBERS = st.sampled_from(
    [0, -1, 1, 7, 8, 63, 64, 65, 2048, 2056, 4096, *BIG, 0.5, -0.0, 1e-300, 1e308, 64.0, 7.5]
)
TEXTS = st.one_of(
    st.sampled_from(["", "x", "\ud800", "a\x00b", "\x1b[2J", "\udfff\ud800", "é" * 2001]),
    st.text(max_size=30),
)
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXTS)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
KEYS = st.sampled_from([*FIELDS, "outpaint", "unknown", "inputs", "parameters", ""])


def huge_header_png() -> str:
    import base64
    import io

    from PIL import Image

    global HUGE_HEADER_PNG
    if HUGE_HEADER_PNG is None:
        buf = io.BytesIO()
        Image.new("1", (20000, 20000)).save(buf, format="PNG", optimize=True)
        HUGE_HEADER_PNG = base64.b64encode(buf.getvalue()).decode()
    return HUGE_HEADER_PNG


@st.composite
def requests(draw) -> tuple[bytes, str]:
    req: dict = {"prompt": "x", "num_inference_steps": 1, "width": 64, "height": 64}
    kind = draw(st.sampled_from(["t2i", "i2i", "inpaint", "outpaint", "video"]))
    if kind != "t2i":
        req = {"prompt": "x", "num_inference_steps": 2, "image": PNG}
        if kind == "inpaint":
            req["mask"] = MASK
        if kind == "outpaint":
            req["outpaint"] = {"left": 8}
    if kind == "video":
        req = {"prompt": "x", "num_frames": 2}
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["set", "set", "delete", "image", "outpaint"]))
        if action == "set":
            req[draw(KEYS)] = draw(VALUES)
        elif action == "delete" and req:
            req.pop(draw(st.sampled_from(sorted(req))))
        elif action == "image":
            req[draw(st.sampled_from(["image", "mask"]))] = draw(
                st.sampled_from(
                    [PNG, MASK, PNG[:-20], "data:image/png;base64," + PNG, "!!", huge_header_png()]
                )
            )
        else:
            side = draw(st.sampled_from(["left", "right", "top", "bottom", "up"]))
            req["outpaint"] = {side: draw(NUMBERS)}
    envelope = draw(st.sampled_from(["plain", "inputs", "instances"]))
    body: object = req
    if envelope == "inputs":
        prompt = req.pop("prompt", None)
        body = {"inputs": prompt, "parameters": draw(st.sampled_from([req, req, "", [], 0]))}
    elif envelope == "instances":
        n = draw(st.integers(1, 5))
        body = {"instances": [dict(req) for _ in range(n)]}
        if draw(st.booleans()):
            body["parameters"] = {"num_outputs": draw(st.integers(1, 5))}
    data = json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \ud800
    cut = draw(st.sampled_from([None, None, None, 1, len(data) // 2, len(data) - 1]))
    if cut is not None:
        data = data[:cut]
    if draw(st.integers(0, 9)) == 0:
        data = b"[" * draw(st.sampled_from([17, 2000, 100_000])) + data
    content_type = draw(
        st.sampled_from(["application/json"] * 6 + ["text/plain", "", "application/json; x=1"])
    )
    return data, content_type


def _rss_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


HAS_PROC = Path("/proc/self/clear_refs").exists()


@pytest.mark.slow
@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(requests())
def test_fuzz_parse_validate_prepare(image_scorer, case):
    body, content_type = case
    start = time.process_time()
    try:
        parsed = image_scorer.parse(body, content_type)
    except ScoringError as err:
        cpu_s = time.process_time() - start
        assert 400 <= err.status < 500, err.message
        assert err.field, err.message
        assert err.message and len(err.message) < 2000
        assert cpu_s < 0.05, (cpu_s, err.message)
        # the same refusal again, measured: Python allocations and the process's peak RSS
        if HAS_PROC:
            Path("/proc/self/clear_refs").write_text("5")
        before = _rss_kb("VmRSS")
        tracemalloc.start()
        try:
            with pytest.raises(ScoringError):
                image_scorer.parse(body, content_type)
            _, py_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert py_peak < 10 * 2**20, py_peak
        if HAS_PROC:
            assert _rss_kb("VmHWM") - before < 10 * 1024, err.message
        return
    # accepted: every job is one the model can run, within the limits
    limits = image_scorer.limits
    assert sum(job.req.num_outputs for job in parsed.jobs) <= limits.max_outputs
    for job in parsed.jobs:
        assert job.req.num_inference_steps <= limits.max_steps
        image = job.kwargs.get("image")  # image-to-image takes its size from the image
        w, h = image.size if image is not None else (job.kwargs["width"], job.kwargs["height"])
        assert w * h <= limits.max_pixels and max(w, h) <= limits.max_side
        assert job.kwargs["prompt"].encode("utf-8")  # no lone surrogate reaches the tokenizer
        negative = job.kwargs.get("negative_prompt")
        assert negative is None or negative.encode("utf-8") is not None
