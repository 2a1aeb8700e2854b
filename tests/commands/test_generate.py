"""`genai-endpoints generate`: every task to a file of the right format and size, bad
values as one line naming the option, the same bytes in fresh processes offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import pytest
from PIL import Image
from typer.testing import CliRunner

from genai_endpoints.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_generate_png_of_requested_size(tiny_image_model, tmp_path):
    out = tmp_path / "fox.png"
    result = run(
        "generate", "--model-dir", tiny_image_model, "--prompt", "a fox", "--out", out,
        "--width", 96, "--height", 64, "--steps", 3, "--seed", 1,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    img = Image.open(out)
    assert img.format == "PNG" and img.size == (96, 64)
    assert "seed 1" in result.output


def test_generate_writes_every_output(tiny_image_model, tmp_path):
    out = tmp_path / "fox.png"
    result = run(
        "generate", "--model-dir", tiny_image_model, "--prompt", "a fox", "--out", out,
        "--steps", 2, "--seed", 5, "--num-outputs", 2,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "and 1 more" in result.output
    assert Image.open(out).size == Image.open(tmp_path / "fox-2.png").size == (64, 64)
    assert out.read_bytes() != (tmp_path / "fox-2.png").read_bytes()  # seeds 5 and 6


def test_generate_every_image_task(tiny_image_model, tmp_path):
    src = tmp_path / "in.png"
    Image.new("RGB", (64, 64), (10, 120, 200)).save(src)
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 64), 255).save(mask)
    cases = {
        "i2i.jpg": ["--image", src, "--strength", 0.6],
        "inpaint.webp": ["--image", src, "--mask", mask],
        "outpaint.png": ["--image", src, "--outpaint", "8,8,0,16"],
    }
    for name, extra in cases.items():
        out = tmp_path / name
        result = run(
            "generate", "--model-dir", tiny_image_model, "--prompt", "x", "--out", out,
            "--steps", 3, *extra,
        )  # fmt: skip
        assert result.exit_code == 0, (name, result.output)
        assert out.exists()
    assert Image.open(tmp_path / "outpaint.png").size == (80, 80)


def test_generate_playable_mp4(tiny_video_model, tmp_path):
    out = tmp_path / "clip.mp4"
    result = run(
        "generate", "--model-dir", tiny_video_model, "--prompt", "waves", "--out", out,
        "--num-frames", 8, "--fps", 8, "--steps", 2, "--seed", 0,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = iio.imread(out)
    assert frames.shape == (8, 64, 64, 3)
    nframes, secs = imageio_ffmpeg.count_frames_and_secs(str(out))
    assert nframes == 8 and secs == pytest.approx(1.0, abs=0.01)
    meta = iio.immeta(out, plugin="FFMPEG")
    assert meta["codec"] == "h264" and meta["fps"] == 8


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--steps", 0], "--steps: must be greater than or equal to 1"),
        (["--steps", 100000], "--steps: must be between 1 and 100"),
        (["--width", 33], "--width: must be a multiple of 8"),
        (["--guidance", -1], "--guidance"),
        (["--num-frames", 8], "--task: model"),
        (["--strength", 0.5], "--strength: only used with an input image"),
        (["--image", "/no/such/file.png"], "--image: cannot read"),
        (["--outpaint", "1,2"], "--outpaint: expected LEFT,RIGHT,TOP,BOTTOM"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_bad_values_exit_nonzero_with_one_line(tiny_image_model, tmp_path, args, words):
    out = tmp_path / "x.png"
    result = run("generate", "--model-dir", tiny_image_model, "--prompt", "x", "--out", out, *args)
    assert result.exit_code != 0
    text = " ".join(result.output.split())  # rich may wrap long lines
    assert words in text, text
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unknown_output_extension(tiny_image_model, tmp_path):
    result = run(
        "generate", "--model-dir", tiny_image_model, "--prompt", "x", "--out", tmp_path / "a.bmp"
    )
    assert result.exit_code != 0 and "--out: extension" in result.output


def test_missing_model_dir(tmp_path):
    result = run(
        "generate", "--model-dir", tmp_path / "nope", "--prompt", "x", "--out", tmp_path / "a.png"
    )
    assert result.exit_code != 0 and "--model-dir" in result.output


def test_cli_in_fresh_processes_is_deterministic_and_offline(tiny_image_model, tmp_path):
    """Two separate processes, no network allowed: the same bytes."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NO_PROXY": "*",
        "https_proxy": "http://127.0.0.1:9",
    }
    files = []
    for i in range(2):
        out = tmp_path / f"run{i}.png"
        proc = subprocess.run(
            [sys.executable, "-m", "genai_endpoints", "generate",
             "--model-dir", str(tiny_image_model), "--prompt", "same", "--out", str(out),
             "--steps", "3", "--seed", "42"],
            capture_output=True, text=True, env=env, timeout=240, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        files.append(Path(out).read_bytes())
    assert files[0] == files[1]
