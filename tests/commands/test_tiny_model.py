"""`genai-endpoints tiny-model`: it never overwrites a folder it was not told to."""

from __future__ import annotations

from typer.testing import CliRunner

from genai_endpoints.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_tiny_model_refuses_to_overwrite(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run("tiny-model", target)
    assert result.exit_code != 0 and "--force" in result.output
    assert (target / "keep.txt").read_text() == "mine"


def test_an_error_shows_what_was_typed_even_with_brackets(tmp_path):
    """fail() prints plain text: a value that looks like rich markup is shown as typed."""
    result = run("tiny-model", tmp_path / "m", "--variant", "[bold]fp8[/]")
    assert result.exit_code == 2
    assert "--variant: fp16 or bf16 (got '[bold]fp8[/]')" in " ".join(result.output.split())
