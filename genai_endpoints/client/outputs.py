"""Read a stack's outputs (docs/pulumi.md, "Stack outputs") into typed sections the transports use.

The sections are the models the stacks export with (``infra/<cloud>/outputs.py``,
pydantic only): a key the program renames is a key this reader misses in the tests.

Sources, in order: a saved ``pulumi stack output --json`` file (``outputs:``), else the
Pulumi Automation API, else the ``pulumi stack output --json --stack X`` command. Outputs
are read once per target and never printed (Azure keys are fetched later, not stored here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pydantic import ValidationError

from genai_endpoints.client.errors import ConfigError
from infra.aws.outputs import AwsOutputs
from infra.azure.outputs import AzureOutputs
from infra.gcp.outputs import GcpOutputs
from scoring.server.contracts import CLOUDS

SECTION_MODEL = {"aws": AwsOutputs, "gcp": GcpOutputs, "azure": AzureOutputs}

__all__ = ["AwsOutputs", "AzureOutputs", "GcpOutputs", "read_outputs", "section_for"]


def read_outputs(*, stack: str | None, outputs_file: Path | None, project_dir: Path | None) -> dict:
    """All of a stack's outputs as plain JSON values."""
    if outputs_file is not None:
        try:
            data = json.loads(outputs_file.read_text())
        except OSError as exc:
            raise ConfigError(f"outputs: cannot read {outputs_file}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"outputs: {outputs_file} is not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"outputs: {outputs_file} must hold a JSON object")
        return data
    assert stack is not None
    if shutil.which("pulumi") is None:
        raise ConfigError(
            f"stack {stack}: the pulumi CLI is not installed here; save the outputs where it is "
            f"(`pulumi stack output --json --stack {stack} > {stack}.json`) and use "
            f"`outputs: {stack}.json`"
        )
    work_dir = project_dir or Path.cwd()
    try:
        return _automation_outputs(stack, work_dir)
    except ConfigError:
        raise
    except Exception:  # the Automation API wants a project; the plain command needs less
        return _command_outputs(stack, work_dir)


def _automation_outputs(stack: str, work_dir: Path) -> dict:
    from pulumi import automation

    selected = automation.select_stack(stack_name=stack, work_dir=str(work_dir))
    return {key: out.value for key, out in selected.outputs().items()}


def _command_outputs(stack: str, work_dir: Path) -> dict:
    cmd = ["pulumi", "stack", "output", "--json", "--stack", stack, "--non-interactive"]
    try:
        proc = subprocess.run(
            cmd, cwd=work_dir, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"stack {stack}: `pulumi stack output` took over 120 s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise ConfigError(f"stack {stack}: pulumi stack output: {last}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ConfigError(f"stack {stack}: pulumi stack output did not print JSON") from None


def section_for(kind: str, outputs: dict, source: str) -> AwsOutputs | GcpOutputs | AzureOutputs:
    """The typed section a target of ``kind`` reads, with a clear error for a missing key."""
    key = CLOUDS[kind.removesuffix("-async")].cloud  # sagemaker → aws: the stack output
    data = outputs.get(key)
    if not isinstance(data, dict):
        have = ", ".join(sorted(outputs)) or "none"
        raise ConfigError(f"{source}: no '{key}' output for kind {kind} (outputs: {have})")
    try:
        section = SECTION_MODEL[key].model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        what = "missing" if err["type"] == "missing" else err["msg"]
        raise ConfigError(f"{source}: output {key}.{field}: {what}") from None
    if isinstance(section, AwsOutputs):
        want = "async" if kind == "sagemaker-async" else "realtime"
        if section.mode != want:
            other = "sagemaker-async" if section.mode == "async" else "sagemaker"
            raise ConfigError(
                f"{source}: endpoint {section.endpoint_name} is {section.mode}; use kind: {other}"
            )
        if want == "async" and not (section.async_input_uri or section.bucket):
            raise ConfigError(f"{source}: output aws.async_input_uri: missing")
    return section
