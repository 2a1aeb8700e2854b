"""`genai-endpoints synth`, tested through a throwaway typer app (cli.py registers it)."""

from __future__ import annotations

import json

import typer
import yaml
from typer.testing import CliRunner

from genai_endpoints.synth_cmd import synth
from tests.infra.conftest import FIXTURE_PACKAGES, ROOT, stack_config

app = typer.Typer(pretty_exceptions_enable=False)
app.command("synth")(synth)
app.command("noop")(lambda: None)  # two commands, so "synth" is a sub-command as in cli.py
runner = CliRunner()


def test_json_lists_every_resource_with_type_name_inputs():
    result = runner.invoke(
        app, ["synth", "--stack", "prod", "--json", "--package", str(FIXTURE_PACKAGES)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert all(set(r) == {"type", "name", "inputs"} for r in data)
    types = {r["type"] for r in data}
    assert "aws:sagemaker/endpoint:Endpoint" in types and "aws:s3/bucket:Bucket" in types


def test_table_output():
    result = runner.invoke(app, ["synth", "--stack", "dev", "--package", str(FIXTURE_PACKAGES)])
    assert result.exit_code == 0, result.output
    assert "24 resources" in result.stdout and "sagemaker-config" in result.stdout
    assert "/h at" in result.stdout and "1.408/h at max" in result.stdout


def test_config_file_option_and_bad_config_is_one_line(tmp_path):
    config = stack_config("dev")
    config["genai-endpoints:aws"]["instanceType"] = "ml.c5.xlarge"
    config["genai-endpoints:package"] = str(FIXTURE_PACKAGES)
    path = tmp_path / "Pulumi.mine.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    result = runner.invoke(app, ["synth", "--stack", "mine", "--config-file", str(path)])
    assert result.exit_code == 2
    err = result.stderr.strip()
    assert err.startswith("error: genai-endpoints:aws.instanceType='ml.c5.xlarge'")
    assert "Traceback" not in result.output and len(err.splitlines()) == 1


def test_missing_package_says_so():
    # The example stacks point at build/packages, which only `genai-endpoints package` makes.
    if (ROOT / "build" / "packages" / "sagemaker" / "manifest.json").exists():
        return
    result = runner.invoke(app, ["synth", "--stack", "dev"])
    assert result.exit_code == 2
    assert "no sagemaker manifest" in result.stderr


def test_unknown_stack():
    result = runner.invoke(app, ["synth", "--stack", "nope"])
    assert result.exit_code == 2 and "Pulumi.nope.yaml not found" in result.stderr
