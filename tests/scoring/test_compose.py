"""Inpainting and outpainting give back what the mask keeps, exactly, away from the seam."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from scoring.compose import FEATHER_RADIUS, feathered_alpha, paste_back
from tests.helpers import decode_output, half_mask_b64
from tests.scoring.helpers import post


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    """A textured input: a flat one could hide an off-by-one in the paste."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def far_from(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels with no ``mask`` pixel within ``radius`` (Chebyshev distance)."""
    h, w = mask.shape
    padded = np.pad(mask, radius)
    near = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            near |= padded[dy : dy + h, dx : dx + w]
    return ~near


@settings(max_examples=40, deadline=None)
@given(
    st.integers(64, 96),
    st.integers(64, 96),
    st.lists(st.tuples(*[st.integers(0, 95)] * 4), min_size=1, max_size=3),
    st.integers(0, 2**16),
)
def test_pixels_away_from_the_seam_are_exactly_input_or_output(w, h, boxes, seed):
    mask = Image.new("L", (w, h), 0)
    for x0, y0, x1, y1 in boxes:
        mask.paste(255, (min(x0, x1), min(y0, y1), max(x0, x1) + 1, max(y0, y1) + 1))
    original, generated = noise(w, h, seed), noise(w, h, seed + 1)
    out = np.asarray(paste_back(original, generated, mask))
    repaint = np.asarray(mask) >= 128
    kept = far_from(repaint, FEATHER_RADIUS)
    inside = far_from(~repaint, FEATHER_RADIUS)
    assert (out[kept] == np.asarray(original)[kept]).all()
    assert (out[inside] == np.asarray(generated)[inside]).all()


def test_the_seam_blends_gradually():
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (32, 0, 64, 64))
    alpha = feathered_alpha(mask)[0, :, 0]
    assert alpha[32 - FEATHER_RADIUS - 1] == 0 and alpha[32 + FEATHER_RADIUS] == 1
    seam = alpha[32 - FEATHER_RADIUS : 32 + FEATHER_RADIUS]
    assert (np.diff(seam) > 0).all()  # no step: the seam doesn't show


def test_grey_mask_values_split_like_the_pipelines():
    """The pipelines repaint where mask >= 0.5: a 127 grey is kept, 128 repainted."""
    mask = Image.new("L", (32, 32), 127)
    original, generated = noise(32, 32, 1), noise(32, 32, 2)
    assert paste_back(original, generated, mask).tobytes() == original.tobytes()
    mask = Image.new("L", (32, 32), 128)
    assert paste_back(original, generated, mask).tobytes() == generated.tobytes()


def test_sizes_must_match():
    with pytest.raises(ValueError, match="equal sizes"):
        paste_back(noise(64, 64), noise(72, 64), Image.new("L", (64, 64)))


def call(scorer, **request):
    return post(scorer, json.dumps(request).encode(), "application/json", None)


def test_inpainting_keeps_the_unmasked_half_exactly(image_scorer):
    src = noise(64, 64, 5)
    ans = call(
        image_scorer,
        prompt="x",
        image=b64(src),
        mask=half_mask_b64(),
        num_inference_steps=2,
        seed=1,
    )
    assert ans.status == 200, ans.body
    out = np.asarray(decode_output(ans.json()).convert("RGB"))
    keep = 32 - FEATHER_RADIUS
    assert (out[:, :keep] == np.asarray(src)[:, :keep]).all()
    assert not (out[:, 32 + FEATHER_RADIUS :] == np.asarray(src)[:, 32 + FEATHER_RADIUS :]).all()


def test_outpainting_keeps_the_original_exactly(image_scorer):
    src = noise(64, 64, 6)
    ans = call(
        image_scorer,
        prompt="x",
        image=b64(src),
        outpaint={"left": 16, "right": 8, "top": 8, "bottom": 0},
        num_inference_steps=2,
        seed=1,
    )
    assert ans.status == 200, ans.body
    out = np.asarray(decode_output(ans.json()).convert("RGB"))
    assert out.shape == (72, 88, 3)
    r = FEATHER_RADIUS
    # the original sits at (16, 8); its edges touching new pixels blend over r pixels
    centre = out[8 + r : 8 + 64, 16 + r : 16 + 64 - r]
    assert (centre == np.asarray(src)[r:, r:-r]).all()
