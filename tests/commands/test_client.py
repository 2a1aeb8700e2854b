"""`genai-endpoints invoke`, `compare` and `select` (genai_endpoints/commands/client.py) as a
user runs them: --help, --json, one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from genai_endpoints.cli import app
from tests.client.helpers import Reply, contract_answer, png_bytes

runner = CliRunner()
PNG = png_bytes()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def setup(tmp_path, fake, fake2):
    fake.reply(Reply(body=contract_answer(PNG)))
    fake2.reply(Reply(body=contract_answer(PNG, vertex=True)))
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"""
targets:
  - {{name: sm, kind: sagemaker, url: '{fake.url}', model_revision: r1, price_per_hour: 1.0,
     quality_score: 50}}
  - {{name: vx, kind: vertex, url: '{fake2.url}', model_revision: r1, price_per_hour: 2.0,
     quality_score: 90}}
cache: cache
history: history.sqlite3
""")
    return tmp_path, targets


@pytest.mark.parametrize("command", ["invoke", "compare", "select"])
def test_help(command):
    result = run(command, "--help")
    assert result.exit_code == 0 and "--targets" in result.output and "--json" in result.output


def test_invoke_json_then_cache_hit(setup, fake):
    tmp, targets = setup
    args = ["invoke", "--targets", targets, "--target", "sm", "--prompt", "a fox", "--seed", 7,
            "--steps", 4, "--out", tmp / "fox.png", "--json"]  # fmt: skip
    first = run(*args)
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["target"] == "sm" and doc["cache"] == "miss" and doc["seed"] == 7
    assert doc["outputs"] == [str(tmp / "fox.png")] and (tmp / "fox.png").read_bytes() == PNG
    assert doc["latency_s"] > 0 and doc["cost_usd"] > 0
    assert fake.seen[0].json()["parameters"]["num_inference_steps"] == 4
    second = json.loads(run(*args).stdout)
    assert second["cache"] == "hit" and len(fake.seen) == 1
    assert (tmp / "cache" / "entries").is_dir() and (tmp / "history.sqlite3").is_file()


def test_invoke_without_target_uses_the_priority(setup, fake, fake2):
    tmp, targets = setup
    result = run("invoke", "--targets", targets, "--priority", "quality", "--prompt", "x",
                 "--out", tmp / "x.webp", "--no-cache")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "from vx (vertex)" in " ".join(result.stdout.split())
    assert fake2.seen[0].json()["instances"][0]["output_format"] == "webp" and not fake.seen


def test_select_json_and_text(setup):
    _, targets = setup
    result = run("select", "--targets", targets, "--priority", "quality", "--json")
    doc = json.loads(result.stdout)
    assert doc["chosen"] == "vx" and [r["target"] for r in doc["ranking"]] == ["vx", "sm"]
    text = run("select", "--targets", targets, "--priority", "quality").stdout
    assert " ".join(text.split()).startswith("chosen: vx (vertex) by quality")


def test_compare_writes_the_report(setup):
    tmp, targets = setup
    result = run("compare", "--targets", targets, "--prompt", "a", "--prompt", "b", "--seed", 3,
                 "--steps", 2, "--out", tmp / "rep", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["identical"] == [True, True] and len(doc["targets"]) == 2
    assert (tmp / "rep" / "report.html").is_file() and (tmp / "rep" / "report.json").is_file()


def test_compare_prompts_file(setup):
    tmp, targets = setup
    (tmp / "prompts.txt").write_text("# a comment\na lighthouse\n\na fox\n")
    result = run("compare", "--targets", targets, "--prompts", tmp / "prompts.txt", "--seed", 1,
                 "--out", tmp / "rep", "--target", "sm")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp / "rep" / "report.json").read_text())
    assert doc["prompts"] == ["a lighthouse", "a fox"] and len(doc["targets"]) == 1


def test_compare_exit_code_reports_failures(tmp_path, fake):
    fake.reply(Reply(500, {"error": {"message": "down"}}))
    targets = tmp_path / "t.yaml"
    targets.write_text(f"targets:\n  - {{name: a, kind: azureml, url: '{fake.url}'}}\n")
    result = run("compare", "--targets", targets, "--prompt", "x", "--seed", 1, "--no-cache",
                 "--out", tmp_path / "rep", "--history", tmp_path / "h.db")  # fmt: skip
    assert result.exit_code == 1 and (tmp_path / "rep" / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["select", "--targets", "/no/such.yaml"], "cannot read the targets file"),
        (["invoke", "--target", "nope", "--prompt", "x", "--out", "o.png"],
         "no target named 'nope'"),
        (["invoke", "--target", "sm", "--prompt", "x", "--out", "o.bmp"], "--out: extension"),
        (["invoke", "--target", "sm", "--prompt", "x", "--out", "o.png", "--steps", 0],
         "--steps: must be greater than or equal to 1"),
        (["invoke", "--target", "sm", "--prompt", "x", "--out", "o.png", "--outpaint", "1"],
         "--outpaint: expected LEFT,RIGHT,TOP,BOTTOM"),
        (["compare", "--seed", 1, "--out", "rep"], "give --prompt (repeatable) or --prompts FILE"),
        (["compare", "--seed", 1, "--out", "rep", "--prompt", "x", "--target", "zz"],
         "no target named 'zz'"),
        (["select", "--priority", "beauty"], "beauty"),
    ],
)  # fmt: skip
def test_errors_are_one_line(setup, args, words):
    _, targets = setup
    if "--targets" not in args:
        args = [args[0], "--targets", targets, *args[1:]]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert words in text, text
    assert "Traceback" not in result.output


def test_call_failure_is_one_line(setup, fake):
    tmp, targets = setup
    fake.reply(Reply(400, {"error": {"message": "height: must be a multiple of 8 [got 65]"}}))
    result = run("invoke", "--targets", targets, "--target", "sm", "--prompt", "x",
                 "--out", tmp / "x.png")  # fmt: skip
    assert result.exit_code == 1
    assert "error: sagemaker" in result.stderr and "[got 65]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_sdk_failure_is_one_line_without_secrets(setup, monkeypatch):
    from genai_endpoints.client import Client
    from genai_endpoints.client.errors import register_secret

    register_secret("hunter2-hunter2")

    def boom(self, *args, **kwargs):
        raise RuntimeError("signing failed with key hunter2-hunter2\nstack line")

    monkeypatch.setattr(Client, "generate", boom)
    tmp, targets = setup
    result = runner.invoke(app, ["invoke", "--targets", str(targets), "--target", "sm",
                                 "--prompt", "x", "--out", str(tmp / "x.png")])  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == "error: RuntimeError: signing failed with key *** stack line"
