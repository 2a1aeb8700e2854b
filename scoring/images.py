"""Decode and prepare input images: base64, size checks, masks and outpainting canvases."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings

from PIL import Image, ImageOps

from scoring.errors import RequestError
from scoring.schema import Outpaint, ResolvedRequest, check_canvas
from scoring.settings import Limits

_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,", re.IGNORECASE)
_ALLOWED = {"PNG", "JPEG", "WEBP"}


def decode_image(b64: str, field: str, limits: Limits) -> Image.Image:
    """Base64 (or a data: URL) to a PIL image, refusing bombs before decoding pixels."""
    try:
        raw = base64.b64decode(_DATA_URL.sub("", b64.strip()), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{field}: not valid base64", field=field) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            fmt = img.format
            w, h = img.size
            # the header gives the size before any pixel is decoded
            if w * h > 4 * limits.max_pixels or max(w, h) > 2 * limits.max_side:
                raise RequestError(
                    f"{field}: {w}x{h} is too large; at most {limits.max_pixels} pixels",
                    field=field,
                )
            img.load()
    except RequestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError(
            f"{field}: image is too large; at most {limits.max_pixels} pixels", field=field
        ) from None
    except Exception:
        raise RequestError(
            f"{field}: not a decodable image; allowed: PNG, JPEG, WebP", field=field
        ) from None
    if fmt not in _ALLOWED:
        raise RequestError(
            f"{field}: format {fmt} not allowed; allowed: PNG, JPEG, WebP", field=field
        )
    return ImageOps.exif_transpose(img)


def round8(n: int) -> int:
    return max(64, n - n % 8)


def prepare_inputs(
    req: ResolvedRequest, limits: Limits
) -> tuple[Image.Image, Image.Image | None, int, int]:
    """The init image, optional mask and final canvas size for an image-conditioned task.

    Without an explicit width/height the input's size is kept (rounded down to a multiple
    of 8). Outpainting grows the canvas by the requested extents and makes the mask.
    """
    image = decode_image(req.image_b64 or "", "image", limits).convert("RGB")
    mask = None
    if req.mask_b64 is not None:
        mask = decode_image(req.mask_b64, "mask", limits).convert("L")
        if mask.size != image.size:
            raise RequestError(
                f"mask: size {mask.size[0]}x{mask.size[1]} differs from image "
                f"{image.size[0]}x{image.size[1]}; they must match",
                field="mask",
            )
    width = req.width or round8(image.size[0])
    height = req.height or round8(image.size[1])
    if req.outpaint is not None:
        image, mask = grow_canvas(image.resize((width, height), Image.LANCZOS), req.outpaint)
        width, height = image.size
    else:
        image = (
            image.resize((width, height), Image.LANCZOS) if image.size != (width, height) else image
        )
        if mask is not None and mask.size != (width, height):
            mask = mask.resize((width, height), Image.NEAREST)

    problems: list[tuple[str, str]] = []
    check_canvas(width, height, limits, lambda f, m: problems.append((f, m)), field="image")
    if problems:
        field, message = problems[0]
        raise RequestError(f"{field}: output canvas {message}", field=field)
    return image, mask, width, height


def grow_canvas(image: Image.Image, ext: Outpaint) -> tuple[Image.Image, Image.Image]:
    """Pad the image with its own edge pixels and mask the new border for inpainting.

    Edge replication gives the model plausible colours to continue from, unlike a flat fill.
    """
    w, h = image.size
    new_w, new_h = w + ext.left + ext.right, h + ext.top + ext.bottom
    canvas = ImageOps.expand(image, border=(ext.left, ext.top, ext.right, ext.bottom))
    # replicate edges: stretch the outermost column/row over each new strip
    if ext.left:
        canvas.paste(image.crop((0, 0, 1, h)).resize((ext.left, h)), (0, ext.top))
    if ext.right:
        canvas.paste(image.crop((w - 1, 0, w, h)).resize((ext.right, h)), (ext.left + w, ext.top))
    if ext.top:
        row = canvas.crop((0, ext.top, new_w, ext.top + 1))
        canvas.paste(row.resize((new_w, ext.top)), (0, 0))
    if ext.bottom:
        row = canvas.crop((0, ext.top + h - 1, new_w, ext.top + h))
        canvas.paste(row.resize((new_w, ext.bottom)), (0, ext.top + h))
    mask = Image.new("L", (new_w, new_h), 255)
    mask.paste(0, (ext.left, ext.top, ext.left + w, ext.top + h))
    return canvas, mask
