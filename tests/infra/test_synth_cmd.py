"""`genai-endpoints synth`, tested through a throwaway typer app (cli.py registers it)."""

from __future__ import annotations

import json
import re
from functools import cache

import typer
import yaml
from typer.testing import CliRunner

from genai_endpoints.commands.synth import synth
from tests.infra.helpers import FIXTURE_PACKAGES, FIXTURE_PROJECT, ROOT, stack_config

app = typer.Typer(pretty_exceptions_enable=False)
app.command("synth")(synth)
app.command("noop")(lambda: None)  # two commands, so "synth" is a sub-command as in cli.py
runner = CliRunner()
# the example stack files, planned in the stand-in project folder (its lock matches the
# fixture packages'; see fixtures/make_packages.py)
FIXTURE_ARGS = ["--package", str(FIXTURE_PACKAGES), "--project-dir", str(FIXTURE_PROJECT)]


def _synth(stack: str, *extra: str):
    return runner.invoke(
        app,
        [
            "synth",
            "--stack",
            stack,
            "--config-file",
            str(ROOT / f"Pulumi.{stack}.yaml"),
            *FIXTURE_ARGS,
            *extra,
        ],
    )


@cache
def prod_json() -> dict:
    result = _synth("prod", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_shows_resources_with_dependencies_cost_and_outputs():
    data = prod_json()
    assert data["stack"] == "prod" and data["stack_file"] == str(ROOT / "Pulumi.prod.yaml")
    assert data["project_dir"] == str(FIXTURE_PROJECT)
    resources = {r["name"]: r for r in data["resources"]}
    assert all(
        set(r) == {"type", "name", "parent", "depends_on", "inputs"} for r in data["resources"]
    )
    assert "sagemaker-weights" in resources["sagemaker-model"]["depends_on"]
    assert "vertex-weights" in resources["vertex-deployment"]["depends_on"]
    assert "azureml-weights" in resources["azureml-model"]["depends_on"]
    assert resources["sagemaker-model"]["parent"] == "sagemaker"
    assert set(data["usd_per_hour"]) == {"aws", "gcp", "azure"}
    for cost in data["usd_per_hour"].values():
        assert 0 < cost["usd_per_hour_min"] <= cost["usd_per_hour_max"] and cost["note"]
    assert data["outputs"]["aws"]["endpoint_name"] and data["outputs"]["gcp"]["predict_url"]
    assert data["outputs"]["azure"]["scoring_uri"].endswith("/score")


def test_table_says_what_it_read_shows_each_registry_image_and_every_pin():
    result = _synth("prod")
    assert result.exit_code == 0, result.output
    out = result.stdout
    first = out.splitlines()[0]
    assert f"project folder {FIXTURE_PROJECT}" in first and "Pulumi.prod.yaml" in first
    assert "docker-build:index:Image" in out
    for name in ("sagemaker-image", "vertex-image", "azureml-image"):
        assert name in out
    pins = re.findall(r"^(aws|gcp|azure): image (\S+)$", out, re.M)
    assert {c for c, _ in pins} == {"aws", "gcp", "azure"}
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", ref) for _, ref in pins)
    assert "/h at max" in out


def test_config_file_option_and_bad_config_is_one_line(tmp_path):
    config = stack_config("dev")
    config["genai-endpoints:aws"]["instanceType"] = "ml.c5.xlarge"
    config["genai-endpoints:package"] = str(FIXTURE_PACKAGES)
    path = tmp_path / "Pulumi.mine.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    result = runner.invoke(
        app,
        [
            "synth",
            "--stack",
            "mine",
            "--config-file",
            str(path),
            "--project-dir",
            str(FIXTURE_PROJECT),
        ],
    )
    assert result.exit_code == 2
    err = result.stderr.strip()
    assert err.startswith("error: genai-endpoints:aws.instanceType='ml.c5.xlarge'")
    assert "Traceback" not in result.output and len(err.splitlines()) == 1


def test_missing_package_says_so():
    # The example stacks point at build/packages, which only `genai-endpoints package` makes.
    if (ROOT / "build" / "packages" / "sagemaker" / "manifest.json").exists():
        return
    result = runner.invoke(app, ["synth", "--stack", "dev", "--project-dir", str(ROOT)])
    assert result.exit_code == 2
    assert "no sagemaker manifest" in result.stderr


def test_unknown_stack():
    result = runner.invoke(app, ["synth", "--stack", "nope", "--project-dir", str(ROOT)])
    assert result.exit_code == 2 and "Pulumi.nope.yaml not found" in result.stderr


def test_outside_a_project_folder_it_refuses_instead_of_planning_another(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["synth", "--stack", "dev"])
    assert result.exit_code == 2
    assert f"no Pulumi.yaml in {tmp_path.resolve()} or any folder above it" in result.stderr
    result = runner.invoke(app, ["synth", "--stack", "dev", "--project-dir", str(tmp_path)])
    assert result.exit_code == 2 and "no Pulumi.yaml there" in result.stderr


def test_found_from_the_current_folder(monkeypatch):
    monkeypatch.chdir(FIXTURE_PROJECT / "runtime")  # below the project folder
    result = runner.invoke(
        app,
        [
            "synth",
            "--stack",
            "dev",
            "--config-file",
            str(ROOT / "Pulumi.dev.yaml"),
            "--package",
            str(FIXTURE_PACKAGES),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"project folder {FIXTURE_PROJECT}" in result.stdout


def test_another_checkouts_program_is_refused(tmp_path):
    other = tmp_path / "other-checkout"
    (other / "infra").mkdir(parents=True)
    (other / "infra" / "__main__.py").write_text("")
    (other / "Pulumi.yaml").write_text("name: genai-endpoints\nruntime: python\nmain: infra/\n")
    result = runner.invoke(app, ["synth", "--stack", "dev", "--project-dir", str(other)])
    assert result.exit_code == 2
    assert f"runs the program in {other}/infra" in result.stderr
    assert "this genai-endpoints is installed from" in result.stderr
