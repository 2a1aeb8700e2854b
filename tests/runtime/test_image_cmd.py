"""`genai-endpoints image build`: the documented way to build the image outside Pulumi."""

from __future__ import annotations

from typer.testing import CliRunner

from genai_endpoints.cli import app


def run(*args: str):
    return CliRunner().invoke(app, ["image", "build", *args])


def test_print_shows_the_build_of_the_one_dockerfile_from_the_project_root():
    result = run("--print")
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert line.startswith("docker buildx build --platform linux/amd64 -f runtime/Dockerfile")
    assert line.endswith(" --load .")


def test_push_records_the_digest_to_pin():
    result = run("--print", "--push", "--tag", "reg.example/genai-runtime:0.2.0")
    assert "--push --metadata-file build/runtime-image.json ." in result.output
    podman = run("--print", "--builder", "podman")
    assert podman.output.startswith("podman build --platform linux/amd64 -f runtime/Dockerfile")


def test_unknown_builder_is_one_clear_line():
    result = run("--builder", "kaniko")
    assert result.exit_code == 2
    assert "allowed: docker, podman" in result.output
