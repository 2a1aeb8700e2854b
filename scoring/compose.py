"""Paste the input's kept pixels back over an inpainting or outpainting result.

Inpainting pipelines repaint the whole canvas through the VAE, so even the pixels the
mask keeps come back changed (slightly on a real model, completely on a random one).
What the caller asked to keep must come back as sent: the original is composited over the
output through the mask, feathered over a narrow band so the seam doesn't show. Pixels
farther than ``FEATHER_RADIUS`` from the mask edge are exactly the input (kept) or exactly
the generation (repainted).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

FEATHER_RADIUS = 4  # px each side of the mask edge over which input and output blend
MASK_THRESHOLD = 128  # the pipelines repaint where mask >= 0.5; the same split here


def feathered_alpha(mask: Image.Image, radius: int = FEATHER_RADIUS) -> np.ndarray:
    """Per-pixel weight of the generated image in [0, 1]: the binarised mask (white =
    repaint) box-blurred by ``radius``. A box filter, unlike a Gaussian, reaches exactly 0
    and 1 at ``radius`` pixels from the edge, which is what makes the kept area exact."""
    binary = mask.convert("L").point(lambda v: 255 if v >= MASK_THRESHOLD else 0)
    if radius > 0:
        binary = binary.filter(ImageFilter.BoxBlur(radius))
    return np.asarray(binary, dtype=np.float32)[..., None] / 255.0


def paste_back(
    original: Image.Image,
    generated: Image.Image,
    mask: Image.Image,
    radius: int = FEATHER_RADIUS,
) -> Image.Image:
    """``generated`` where the mask repaints, ``original`` where it keeps, blended across
    the edge. All three are the output's size (the engine prepares them so)."""
    if original.size != generated.size or mask.size != generated.size:
        raise ValueError(
            f"paste-back needs equal sizes: original {original.size}, generated "
            f"{generated.size}, mask {mask.size}"
        )
    alpha = feathered_alpha(mask, radius)
    src = np.asarray(original.convert("RGB"), dtype=np.float32)
    gen = np.asarray(generated.convert("RGB"), dtype=np.float32)
    out = gen * alpha + src * (1.0 - alpha)
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))
