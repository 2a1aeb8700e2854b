"""The assembled genai-endpoints command (genai_endpoints/cli.py): --help on every command,
--version, and commands that print only their result. Each command's own tests are in
tests/commands/."""

from __future__ import annotations

import os
import subprocess
import sys

import typer
from typer.testing import CliRunner

from genai_endpoints.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_help_on_every_command():
    result = run("--help")
    assert result.exit_code == 0
    commands = list(typer.main.get_command(app).commands)
    assert {"tiny-model", "generate", "version"} <= set(commands)
    for name in commands:
        sub = run(name, "--help")
        assert sub.exit_code == 0 and "Usage" in sub.output, name


def test_help_off_a_terminal_is_whole_and_flags_carry_no_type_label():
    """Piped help (CI logs, `| less`) keeps every option's help and shows no `<bool>`."""
    for args in (["--help"], ["upload", "--help"], ["image", "build", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-m", "genai_endpoints", *args],
            capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": ""},
        )  # fmt: skip
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        assert "<bool>" not in proc.stdout
        assert "…" not in proc.stdout, proc.stdout  # nothing cut
        if args[0] == "upload":
            assert "azure.datastore_uri gives it" in proc.stdout


def test_version_flag():
    from scoring import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"genai-endpoints {__version__}"


def test_commands_print_no_warning_or_noise(tiny_image_model, tiny_video_model, tmp_path):
    """Each command the README runs writes only its result: stderr stays empty off a
    terminal (no library warnings, deprecation notices or progress bars in logs)."""
    commands = [
        ["tiny-model", str(tmp_path / "m"), "--family", "sdxl"],
        ["generate", "--model-dir", str(tiny_image_model), "--prompt", "x", "--steps", "2",
         "--scheduler", "ddim", "--out", str(tmp_path / "a.png")],
        ["generate", "--model-dir", str(tiny_video_model), "--prompt", "x", "--steps", "2",
         "--num-frames", "4", "--out", str(tmp_path / "v.mp4")],
        ["package", "--model-dir", str(tiny_image_model), "--out", str(tmp_path / "pk")],
    ]  # fmt: skip
    for args in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "genai_endpoints", *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stderr == "", (args, proc.stderr)
        assert proc.stdout.strip(), args
