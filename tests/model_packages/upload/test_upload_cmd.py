"""`genai-endpoints upload`: the summary, one-line errors and exit codes."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from model_packages.upload.plan import plan_upload
from tests.model_packages.upload.helpers import BUCKET, prefix_of


@pytest.fixture
def cli():
    from genai_endpoints.commands.upload import upload

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("upload")(upload)
    app.command("noop")(lambda: None)  # two commands: `upload` stays a subcommand
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["upload", *map(str, args)], catch_exceptions=False)

    return run


def test_cli_uploads_and_summarises(cli, s3, package):
    result = cli("--package", package, "--to", f"s3://{BUCKET}/cli")
    assert result.exit_code == 0, result.output
    n = len(plan_upload(package))
    assert f"uploaded {n} files" in result.stdout and "skipped 0 files / 0.0 MB" in result.stdout
    assert f"weights URI: s3://{BUCKET}/cli/{prefix_of(package)}" in result.stdout
    again = cli("--package", package, "--to", f"s3://{BUCKET}/cli")
    assert again.exit_code == 0 and f"uploaded 0 files / 0.0 MB, skipped {n} files" in again.stdout


def _one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_cli_user_errors_are_one_line_and_exit_2(cli, s3, package, tmp_path):
    _one_line_error(cli("--package", package, "--to", "ftp://x/y"), "'ftp://x/y'", "s3://")
    _one_line_error(cli("--package", tmp_path, "--to", f"s3://{BUCKET}"), "no manifest.json")
    path = package / "model" / "model_index.json"
    path.write_bytes(path.read_bytes().upper())
    _one_line_error(cli("--package", package, "--to", f"s3://{BUCKET}"), "model_index.json")


def test_cli_without_aws_credentials_exits_2(cli, package, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    result = cli("--package", package, "--to", f"s3://{BUCKET}")
    _one_line_error(result, "no AWS credentials")
    assert "testing" not in result.output


def test_the_progress_bar_lives_in_the_command(monkeypatch):
    """On a terminal the command draws one bar over the bytes; the SDK's over- or
    under-counting is absorbed when each file is in the store. Elsewhere it draws nothing."""
    import rich.console

    from genai_endpoints.commands.upload import _ProgressBar

    with _ProgressBar() as quiet:  # pytest's stderr is no terminal
        quiet.begin(1, 10)
        quiet.sent(10)
        quiet.synced("k", "uploaded", 10)
        quiet.end()
    assert quiet._progress is None

    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    with _ProgressBar() as bar:
        bar.begin(2, 100)
        bar.file("models/" + "d" * 64 + "/unet/diffusion_pytorch_model.safetensors", 60)
        task = bar._progress.tasks[0]
        assert task.total == 100 and task.description.startswith("…")
        assert len(task.description) == 40
        bar.sent(70)  # a retry counted twice
        bar.synced("k", "uploaded", 60)
        assert task.completed == 60
        bar.end()
        assert task.description == "done"
