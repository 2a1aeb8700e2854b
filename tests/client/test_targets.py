"""The targets file and stack outputs: typed, with one-line errors naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genai_endpoints.client.errors import ConfigError
from genai_endpoints.client.outputs import read_outputs, section_for
from genai_endpoints.client.resolve import resolve
from genai_endpoints.client.targets import EndpointTarget, load_targets

GOOD = """
targets:
  - name: sm-local
    kind: sagemaker
    url: http://127.0.0.1:8080
    package: pk/sagemaker
  - name: aws-prod
    kind: sagemaker
    outputs: prod.json
    price_per_hour: 3.02
  - name: nova
    kind: bedrock
    model: amazon.nova-canvas-v1:0
    quality_score: 70
  - name: imagen
    kind: imagen
    model: imagen-4.0-generate-001
    project: p
  - name: dalle
    kind: azure-openai
    endpoint: https://res.openai.azure.com
    deployment: d3
cache: cache-dir
history: h.sqlite3
"""

AWS_OUT = {
    "aws": {
        "endpoint_name": "genai-prod",
        "region": "eu-west-1",
        "mode": "realtime",
        "bucket": "b",
        "usd_per_hour_min": 2.0,
        "usd_per_hour_max": 6.0,
        "max_instances": 3,
        "model_id": "org/m",
        "model_revision": "a" * 40,
    }
}


def test_good_file_parses_with_paths_relative_to_it(tmp_path):
    (tmp_path / "targets.yaml").write_text(GOOD)
    tf = load_targets(tmp_path / "targets.yaml")
    assert [t.name for t in tf.targets] == ["sm-local", "aws-prod", "nova", "imagen", "dalle"]
    assert tf.targets[0].package == tmp_path / "pk/sagemaker"
    assert tf.targets[1].outputs == tmp_path / "prod.json"
    assert tf.cache == str(tmp_path / "cache-dir") and tf.history == tmp_path / "h.sqlite3"
    assert tf.get("nova").quality_score == 70


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("targets: []", "targets: List should have at least 1 item"),
        (
            "targets:\n  - name: a\n    kind: nope\n",
            "targets[0] (a).kind: must be one of sagemaker, sagemaker-async",
        ),
        ("targets:\n  - name: a\n    kind: vertex\n", "give exactly one of url, stack or outputs"),
        (
            "targets:\n  - name: a\n    kind: bedrock\n    model: x.y\n    colour: red\n",
            "targets[0] (a).colour: unknown field",
        ),
        ("targets:\n  - kind: bedrock\n    model: x.y\n", "targets[0].name: required"),
        (
            "targets:\n  - {name: a, kind: sagemaker, url: 'http://x'}\n"
            "  - {name: a, kind: sagemaker, url: 'http://y'}\n",
            "target name 'a' appears twice",
        ),
        (
            "targets:\n  - {name: a, kind: sagemaker-async, url: 'http://x'}\n",
            "sagemaker-async needs stack or outputs",
        ),
        ("targets:\n  - {name: a, kind: sagemaker, url: 'http://x', timeout_s: -1}\n", "timeout_s"),
        ("targets: [\n", "line"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, yaml_text, words):
    path = tmp_path / "t.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_targets(path)
    assert words in info.value.message
    assert "\n" not in info.value.message and str(path) in info.value.message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the targets file"):
        load_targets(tmp_path / "nope.yaml")


def test_unknown_target_name_lists_the_names(tmp_path):
    (tmp_path / "targets.yaml").write_text(GOOD)
    with pytest.raises(ConfigError, match="no target named 'x'; the file has: sm-local, aws-prod"):
        load_targets(tmp_path / "targets.yaml").get("x")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_any_yaml_value_is_parsed_or_refused_cleanly(tmp_path, value):
    import yaml

    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump({"targets": [value]} if not isinstance(value, dict) else value))
    try:
        load_targets(path)
    except ConfigError as exc:
        assert exc.message and "\n" not in exc.message


def test_outputs_file_gives_endpoint_price_and_model(tmp_path):
    (tmp_path / "prod.json").write_text(json.dumps(AWS_OUT))
    target = EndpointTarget(name="p", kind="sagemaker", outputs=tmp_path / "prod.json")
    r = resolve(target)
    assert r.transport.identity == "sagemaker:eu-west-1/genai-prod"
    assert r.transport.model_revision == "a" * 40
    assert r.price_per_hour == pytest.approx(2.0)  # 6.0 $/h for 3 instances → one instance
    assert "max instances" in r.price_note


def test_price_override_beats_the_stack(tmp_path):
    (tmp_path / "prod.json").write_text(json.dumps(AWS_OUT))
    target = EndpointTarget(
        name="p", kind="sagemaker", outputs=tmp_path / "prod.json", price_per_hour=3.02
    )
    assert resolve(target).price_per_hour == 3.02


@pytest.mark.parametrize(
    ("kind", "outputs", "words"),
    [
        ("vertex", AWS_OUT, "no 'gcp' output for kind vertex (outputs: aws)"),
        ("sagemaker-async", AWS_OUT, "endpoint genai-prod is realtime; use kind: sagemaker"),
        ("sagemaker", {"aws": {"region": "x"}}, "output aws.endpoint_name: missing"),
        ("azureml", {"azure": {"endpoint_name": "e"}}, "output azure.scoring_uri: missing"),
    ],
)
def test_outputs_errors_name_the_key(kind, outputs, words):
    with pytest.raises(ConfigError) as info:
        section_for(kind, outputs, "stack prod")
    assert words in info.value.message


def test_stack_without_pulumi_cli_says_what_to_do(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ConfigError, match=r"pulumi stack output --json --stack prod > prod\.json"):
        read_outputs(stack="prod", outputs_file=None, project_dir=None)


def test_stack_outputs_through_the_pulumi_command(tmp_path, monkeypatch):
    """No Automation API project: the plain command's JSON is used."""
    fake_cli = tmp_path / "bin" / "pulumi"
    fake_cli.parent.mkdir()
    fake_cli.write_text(f"#!/bin/sh\necho '{json.dumps(AWS_OUT)}'\n")
    fake_cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_cli.parent}:/usr/bin:/bin")
    outputs = read_outputs(stack="prod", outputs_file=None, project_dir=tmp_path)
    assert outputs["aws"]["endpoint_name"] == "genai-prod"


def test_package_manifest_gives_model_identity(tmp_path):
    pk = tmp_path / "pk"
    pk.mkdir()
    (pk / "manifest.json").write_text(
        json.dumps({"model": {"id": "org/x", "revision": "r1", "tasks": ["text-to-image"]}})
    )
    target = EndpointTarget(name="l", kind="vertex", url="http://127.0.0.1:1", package=pk)
    r = resolve(target)
    assert (r.transport.model_id, r.transport.model_revision) == ("org/x", "r1")
    assert [t.value for t in r.tasks] == ["text-to-image"]
    bad = EndpointTarget(name="l", kind="vertex", url="http://127.0.0.1:1", package=Path("/nope"))
    with pytest.raises(ConfigError, match="package: cannot read"):
        resolve(bad)


def test_the_readmes_example_targets_file_names_the_three_local_contracts():
    from pathlib import Path

    from genai_endpoints.client.targets import load_targets

    root = Path(__file__).resolve().parents[2]
    parsed = load_targets(root / "examples" / "targets.local.yaml")
    by_kind = {t.kind: t for t in parsed.targets}
    assert set(by_kind) == {"sagemaker", "vertex", "azureml"}
    ports = [by_kind[k].url.port for k in ("sagemaker", "vertex", "azureml")]
    assert ports == [8080, 8081, 8082]  # as the README starts the three servers
    assert Path(by_kind["vertex"].package).resolve() == root / "build" / "packages" / "vertex"
