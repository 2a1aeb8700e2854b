"""Encode generated frames to bytes, deterministically: same pixels, same bytes.

PIL writes no timestamps for PNG, JPEG, WebP or GIF. For MP4, ffmpeg is asked for
bit-exact output with no metadata, so the container carries no creation time or
encoder version string that would change the bytes between runs.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from collections.abc import Sequence

from PIL import Image

from scoring.schema import OutputFormat

JPEG_QUALITY = 92
WEBP_QUALITY = 90


def encode_image(image: Image.Image, fmt: OutputFormat) -> bytes:
    buf = io.BytesIO()
    if fmt is OutputFormat.PNG:
        image.save(buf, format="PNG", compress_level=6)
    elif fmt is OutputFormat.JPEG:
        image.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    elif fmt is OutputFormat.WEBP:
        image.save(buf, format="WEBP", quality=WEBP_QUALITY, method=4)
    else:
        raise ValueError(f"{fmt} is not an image format")
    return buf.getvalue()


def encode_video(frames: Sequence[Image.Image], fmt: OutputFormat, fps: int) -> bytes:
    if not frames:
        raise ValueError("no frames to encode")
    if fmt is OutputFormat.GIF:
        buf = io.BytesIO()
        frames[0].save(
            buf,
            format="GIF",
            save_all=True,
            append_images=list(frames[1:]),
            duration=round(1000 / fps),
            loop=0,
        )
        return buf.getvalue()
    if fmt is OutputFormat.MP4:
        return _encode_mp4(frames, fps)
    raise ValueError(f"{fmt} is not a video format")


def _encode_mp4(frames: Sequence[Image.Image], fps: int) -> bytes:
    """H.264 in MP4 through the ffmpeg binary that imageio-ffmpeg ships.

    Raw RGB frames go in on stdin; ``+faststart`` puts the index first so browsers can
    play while downloading; yuv420p is what every player decodes.
    """
    import imageio_ffmpeg

    width, height = frames[0].size
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "video.mp4")
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", str(fps), "-i", "-",
            "-an", "-c:v", "libx264", "-preset", "medium", "-crf", "18",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            "-map_metadata", "-1", "-fflags", "+bitexact",
            "-flags:v", "+bitexact", "-threads", "1",
            out,
        ]  # fmt: skip
        raw = b"".join(f.convert("RGB").tobytes() for f in frames)
        proc = subprocess.run(cmd, input=raw, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()}")
        with open(out, "rb") as fh:
            return fh.read()


def encode(frames: Sequence[Image.Image], fmt: OutputFormat, fps: int) -> bytes:
    """One output: a single image, or a sequence of frames for a video format."""
    if fmt.is_video:
        return encode_video(frames, fmt, fps)
    return encode_image(frames[0], fmt)
