"""The largest answer a request can produce, so a deployment with a response cap
(``GENAI_MAX_RESPONSE_BYTES``: each cloud's front-end cap, from its descriptor) refuses
before the GPU does work whose answer the cloud's front end would drop.

Per output, the bound for its format (``encoders``: RGB 8-bit frames):

- PNG: every row is ``3 * width`` bytes plus one filter byte; zlib's worst case for ``n``
  bytes is ``n + n/4096 + n/16384 + n/2^25 + 19`` (``deflateBound``, stored blocks); PIL
  writes IDAT chunks of at least 64 KiB (12 bytes of framing each) and a header under
  1 KiB. This bound is certain.
- JPEG (quality 92) and WebP (quality 90): lossy codecs have no useful certain bound.
  White noise, the least compressible picture, measures at most 1.13 (JPEG) and 0.94
  (WebP) bytes per pixel at 64×64 and less above; the bound is 1.5 and 1.25 bytes per
  pixel plus 4 KiB of headers.
- GIF: palette indices in LZW codes of at most 12 bits: 1.5 bytes per pixel per frame,
  plus 1 KiB per frame and the palette.
- MP4: rate-controlled by CRF, no bound worth having; only the check after encoding
  (``check_encoded``) applies.

Base64 (``4 * ceil(n / 3)``) applies unless the answer is the raw file; the JSON envelope
adds at most ``ENTRY_BYTES`` per output (content type, seed, nsfw flag) and
``ENVELOPE_BYTES`` (metadata: timings, seeds, LoRAs). Whatever slips past the bound (a
lossy codec's pathological picture) meets ``check_encoded``: an error naming the limit,
never the oversized body.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.errors import RequestError, ScoringError
from scoring.schema import OutputFormat

ENTRY_BYTES = 256
ENVELOPE_BYTES = 16 * 1024
LOSSY_BYTES_PER_PIXEL = {OutputFormat.JPEG: 1.5, OutputFormat.WEBP: 1.25}
LOSSY_HEADER_BYTES = 4096
GIF_BYTES_PER_PIXEL = 1.5
GIF_FRAME_BYTES = 1024
GIF_PALETTE_BYTES = 800


@dataclass(frozen=True)
class Shape:
    """One request's outputs: how many, of what size and format."""

    outputs: int
    width: int
    height: int
    frames: int
    fmt: OutputFormat


def png_bound(width: int, height: int) -> int:
    raw = height * (3 * width + 1)
    deflated = raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 19
    return deflated + 12 * (deflated // 65536 + 1) + 1024


def file_bound(width: int, height: int, frames: int, fmt: OutputFormat) -> int | None:
    """The most bytes one output's file takes; None: no bound (MP4)."""
    pixels = width * height
    if fmt is OutputFormat.PNG:
        return png_bound(width, height)
    if fmt in LOSSY_BYTES_PER_PIXEL:
        return int(pixels * LOSSY_BYTES_PER_PIXEL[fmt]) + LOSSY_HEADER_BYTES
    if fmt is OutputFormat.GIF:
        per_frame = int(pixels * GIF_BYTES_PER_PIXEL) + GIF_FRAME_BYTES
        return GIF_PALETTE_BYTES + frames * per_frame
    return None


def base64_size(n: int) -> int:
    return 4 * -(-n // 3)


def answer_bound(shapes: list[Shape], raw: bool) -> int | None:
    """The most bytes the answer's body takes; None when a format has no bound."""
    total = 0 if raw else ENVELOPE_BYTES
    for shape in shapes:
        one = file_bound(shape.width, shape.height, shape.frames, shape.fmt)
        if one is None:
            return None
        total += shape.outputs * (one if raw else base64_size(one) + ENTRY_BYTES)
    return total


def check_fits(shapes: list[Shape], raw: bool, cap: int | None, roomier: str = "") -> None:
    """Refuse (400) a request whose worst-case answer exceeds ``cap``, saying what fits:
    a lossy format, fewer outputs, or ``roomier`` (a mode of this cloud with a larger cap)."""
    worst = answer_bound(shapes, raw) if cap is not None else None
    if worst is None or worst <= cap:
        return
    outputs = sum(s.outputs for s in shapes)
    first = shapes[0]
    fits = [
        f"output_format {fmt.value}"
        for fmt in LOSSY_BYTES_PER_PIXEL
        if not first.fmt.is_video
        and (answer_bound([_with(s, fmt=fmt) for s in shapes], raw) or cap + 1) <= cap
    ]
    fewest = max_outputs_fitting(shapes, raw, cap)
    if 0 < fewest < outputs:
        fits.append(f"num_outputs {fewest}")
    if roomier:
        fits.append(roomier)
    field = "num_outputs" if outputs > 1 else "output_format"
    raise RequestError(
        f"{field}: {outputs} × {first.width}x{first.height} {first.fmt.value} could answer "
        f"{worst:,} bytes; this endpoint answers at most {cap:,} (GENAI_MAX_RESPONSE_BYTES); "
        f"fits: {', or '.join(fits) if fits else 'a smaller width x height'}",
        field=field,
    )


def max_outputs_fitting(shapes: list[Shape], raw: bool, cap: int) -> int:
    """The most outputs of the first request's shape whose answer fits."""
    n = 0
    while n < 64 and (answer_bound([_with(shapes[0], outputs=n + 1)], raw) or cap + 1) <= cap:
        n += 1
    return n


def _with(shape: Shape, **change) -> Shape:
    return Shape(**{**shape.__dict__, **change})


class ResponseTooLarge(ScoringError):
    """The encoded answer is over the deployment's response cap (500: the request passed
    every up-front check, so the server's bound was wrong for this picture)."""

    status = 500


def check_encoded(size: int, cap: int | None) -> None:
    """Never send an answer over the cap: the cloud's front end would fail it anyway,
    with a message that names neither the cap nor the way out."""
    if cap is not None and size > cap:
        raise ResponseTooLarge(
            f"answer: {size:,} bytes encoded; this endpoint answers at most {cap:,} "
            "(GENAI_MAX_RESPONSE_BYTES); ask for output_format jpeg or webp, fewer outputs "
            "or a smaller size",
            field="answer",
        )
