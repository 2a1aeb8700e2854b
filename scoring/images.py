"""Input images: size checks from the header, then decoding, masks and outpainting canvases.

Two steps, so that no request can make the server allocate more than its limits allow:

1. ``plan_canvas`` (validation, before the request queues) base64-decodes the image only
   after checking the string's length, reads the header (PIL's ``Image.open`` is lazy),
   and decides the output canvas from the header's size, ``width``/``height`` and
   ``outpaint``. Nothing is decoded and no canvas is allocated unless all of it fits.
2. ``prepare_inputs`` decodes the pixels and builds the canvas, checking the exact size
   again (an EXIF rotation hidden late in a PNG can swap the sides).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from scoring.errors import Problem, RequestError
from scoring.schema import Outpaint, ResolvedRequest, check_canvas
from scoring.settings import Limits

_DATA_URL = re.compile(r"^data:[\w/+.-]{1,100};base64,", re.IGNORECASE)
_ALLOWED = ("PNG", "JPEG", "WEBP")
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_ORIENTATION = 0x0112


def round8(n: int) -> int:
    return max(64, n - n % 8)


def max_b64_chars(limits: Limits) -> int:
    """The longest base64 text whose decoded bytes fit ``max_image_bytes``."""
    return 4 * -(-limits.max_image_bytes // 3) + 4  # +4: padding and whitespace slack


def image_bytes(b64: str, field: str, limits: Limits) -> bytes:
    """Base64 (or a data: URL) to bytes; an oversize string is refused before decoding."""
    limit = max_b64_chars(limits)
    text = b64 if len(b64) > limit + 128 else _DATA_URL.sub("", b64.strip(), count=1)
    if len(text) > limit:
        raise RequestError(
            f"{field}: {len(text)} base64 characters; at most {limit} "
            f"({limits.max_image_bytes} bytes once decoded)",
            field=field,
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            f"{field}: not valid base64 (or a data: URL); send a base64 PNG, JPEG or WebP",
            field=field,
        ) from None


@dataclass(frozen=True)
class Header:
    """What an image's header says, before any pixel is decoded."""

    raw: bytes
    format: str
    width: int  # as the image will be shown: after its EXIF rotation, where the header has it
    height: int


def read_header(raw: bytes, field: str, limits: Limits) -> Header:
    """Open lazily (header only) and refuse an input too large to decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw), formats=list(_ALLOWED))
            w, h = img.size
            fmt = img.format or "unknown"
            # JPEG and WebP carry EXIF in the header; a PNG may carry it after the pixels,
            # and reading it there would decode them: prepare_inputs checks again
            orientation = img.getexif().get(_ORIENTATION) if "exif" in img.info else None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError(
            f"{field}: image is too large; at most {4 * limits.max_pixels} pixels", field=field
        ) from None
    except Exception:  # PIL raises many kinds on hostile bytes; none is the caller's business
        raise RequestError(
            f"{field}: not a readable image; allowed: PNG, JPEG, WebP", field=field
        ) from None
    if w * h > 4 * limits.max_pixels or max(w, h) > 2 * limits.max_side:
        raise RequestError(
            f"{field}: {w}x{h} is too large to read; at most {4 * limits.max_pixels} pixels "
            f"and {2 * limits.max_side} px a side",
            field=field,
        )
    if orientation in _SWAPS_SIDES:
        w, h = h, w
    return Header(raw, fmt, w, h)


@dataclass(frozen=True)
class Canvas:
    """The output size of an image task, decided from the request and the image header."""

    width: int
    height: int


def canvas_for(
    req: ResolvedRequest, image_w: int, image_h: int, limits: Limits, *, what: str = ""
) -> Canvas:
    """The output canvas for an input of ``image_w`` x ``image_h``, or a ``RequestError``
    naming what made it too large: an explicit side, the input ``image``, or ``outpaint``."""
    width = req.width or round8(image_w)
    height = req.height or round8(image_h)
    width_field = "width" if req.width else "image"
    height_field = "height" if req.height else "image"
    ext = req.outpaint
    if ext is not None:
        if ext.left or ext.right:
            width, width_field = width + ext.left + ext.right, "outpaint"
        if ext.top or ext.bottom:
            height, height_field = height + ext.top + ext.bottom, "outpaint"
    problems: list[Problem] = []
    check_canvas(
        width,
        height,
        limits,
        lambda f, m: problems.append(Problem(f, m)),
        width_field=width_field,
        height_field=height_field,
        what=what,
    )
    if problems:
        raise RequestError.of(problems)
    return Canvas(width, height)


def plan_canvas(req: ResolvedRequest, limits: Limits) -> Canvas:
    """Validation step: the output canvas from the headers alone (no pixel decoded)."""
    image = read_header(image_bytes(req.image_b64 or "", "image", limits), "image", limits)
    if req.mask_b64 is not None:
        mask = read_header(image_bytes(req.mask_b64, "mask", limits), "mask", limits)
        _same_size("mask", (mask.width, mask.height), (image.width, image.height))
    return canvas_for(req, image.width, image.height, limits, what="output canvas: ")


def _same_size(field: str, got: tuple[int, int], want: tuple[int, int]) -> None:
    if got != want:
        raise RequestError(
            f"{field}: size {got[0]}x{got[1]} differs from image {want[0]}x{want[1]}; "
            "they must match",
            field=field,
        )


def decode_image(b64: str, field: str, limits: Limits) -> Image.Image:
    """Base64 (or a data: URL) to a PIL image, refusing bombs before decoding pixels."""
    header = read_header(image_bytes(b64, field, limits), field, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(header.raw), formats=list(_ALLOWED))
            img.load()
            return ImageOps.exif_transpose(img)
    except Exception:  # truncated or corrupt pixel data, a bomb past the header
        raise RequestError(
            f"{field}: not a decodable {header.format} image; allowed: PNG, JPEG, WebP",
            field=field,
        ) from None


def prepare_inputs(
    req: ResolvedRequest, limits: Limits
) -> tuple[Image.Image, Image.Image | None, int, int]:
    """The init image, optional mask and final canvas size for an image-conditioned task.

    Without an explicit width/height the input's size is kept (rounded down to a multiple
    of 8). Outpainting grows the canvas by the requested extents and makes the mask. The
    canvas is checked (again, exactly) before it is allocated.
    """
    image = decode_image(req.image_b64 or "", "image", limits).convert("RGB")
    mask = None
    if req.mask_b64 is not None:
        mask = decode_image(req.mask_b64, "mask", limits).convert("L")
        _same_size("mask", mask.size, image.size)
    canvas = canvas_for(req, image.size[0], image.size[1], limits, what="output canvas: ")
    # below this line every size is within the limits
    width = req.width or round8(image.size[0])
    height = req.height or round8(image.size[1])
    if req.outpaint is not None:
        image, mask = grow_canvas(image.resize((width, height), Image.LANCZOS), req.outpaint)
    else:
        if image.size != (width, height):
            image = image.resize((width, height), Image.LANCZOS)
        if mask is not None and mask.size != (width, height):
            mask = mask.resize((width, height), Image.NEAREST)
    return image, mask, canvas.width, canvas.height


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
