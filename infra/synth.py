"""Offline plan: run the Pulumi program under the SDK's mock runtime and record resources.

No credentials, no Pulumi CLI, no provider plugins: ``pulumi.runtime.set_mocks`` stands in
for the engine, a stack file's ``config:`` is fed through ``pulumi.runtime.set_all_config``
(secure values become the placeholder ``[secret]``, marked secret), and every resource the
program registers is recorded from the mocks' ``new_resource`` with its type token, name
and inputs. The program itself is ``infra.__main__.main`` — the same code ``pulumi up`` runs.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.config import ConfigError

SECRET_PLACEHOLDER = "[secret]"
FAKE_ACCOUNT = "123456789012"


class SynthError(Exception):
    """The stack cannot be planned; the message is one line for the user."""


@dataclass
class SynthResult:
    project: str
    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_type(self, token: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == token]


# How the SDK marks a secret value on the wire (pulumi.runtime.rpc).
_SECRET_SIG = rpc._special_secret_sig
_SIG_KEY = rpc._special_sig_key


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def _plain(value: Any, root: Path | None = None) -> Any:
    """Inputs as JSON-able data (secrets unwrapped, assets as their path)."""
    if _is_secret(value):
        return _plain(value.get("value"), root)
    if isinstance(value, dict):
        return {k: _plain(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, root) for v in value]
    if isinstance(value, pulumi.FileAsset):
        path = Path(str(value.path))
        if root is not None:
            with contextlib.suppress(ValueError):
                path = path.resolve().relative_to(root.resolve())
        return {"file_asset": path.as_posix()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _azure_identity(typ: str, state: dict) -> None:
    """azure-native takes user-assigned identities as a list of ids but returns a map of
    id → details; answer like the provider does, so such stacks run under the mocks."""
    ident = state.get("identity")
    if isinstance(ident, dict) and isinstance(ident.get("userAssignedIdentities"), list):
        state["identity"] = {
            **ident,
            "userAssignedIdentities": {
                i: {"principalId": "uai-principal"} for i in ident["userAssignedIdentities"]
            },
        }
    if typ == "azure-native:managedidentity:UserAssignedIdentity":
        state["principalId"] = "uai-principal"


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every registration with its inputs plus plausible computed attributes."""

    def __init__(self, region: str = "us-east-1", root: Path | None = None) -> None:
        self.region = region
        self.root = root
        self.resources: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        self.resources.append(
            {
                "type": args.typ,
                "name": args.name,
                "inputs": _plain(inputs, self.root),
                "secret_inputs": sorted(k for k, v in inputs.items() if _is_secret(v)),
            }
        )
        state = dict(inputs)
        typ = args.typ
        rid = f"{args.name}-id"
        if typ == "aws:s3/bucket:Bucket":
            rid = inputs.get("bucket") or f"{args.name}-bucket-0123abcd"
            state["bucket"] = rid
            state["arn"] = f"arn:aws:s3:::{rid}"
        elif typ.startswith("aws:"):
            service = typ.split(":")[1].split("/")[0]
            name = inputs.get("name") or f"{args.name}-0123abcd"
            state.setdefault("name", name)
            state["arn"] = f"arn:aws:{service}:{self.region}:{FAKE_ACCOUNT}:{args.name}/{name}"
            if typ == "aws:iam/role:Role":
                state["arn"] = f"arn:aws:iam::{FAKE_ACCOUNT}:role/{name}"
            if typ == "aws:kms/key:Key":
                state["arn"] = (
                    f"arn:aws:kms:{self.region}:{FAKE_ACCOUNT}:key/"
                    "00000000-0000-4000-8000-000000000000"
                )
            rid = name
        elif typ.startswith("azure-native:"):
            _azure_identity(typ, state)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": FAKE_ACCOUNT,
                "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/synth",
                "id": FAKE_ACCOUNT,
                "userId": "AIDASYNTH",
            }
        return {}


def find_project_dir(start: Path | None = None) -> Path:
    """The folder holding ``Pulumi.yaml``: from ``start`` (default cwd) upward, else infra's."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[1]


def read_stack_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SynthError(f"stack file {path} not found")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SynthError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise SynthError(f"{path}: 'config' must be a mapping of keys to values")
    return config


def runtime_config(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """A stack file's ``config:`` as the engine passes it: strings, objects as JSON."""
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = SECRET_PLACEHOLDER
            secrets.append(key)
        elif isinstance(value, dict | list):
            values[key] = json.dumps(value)
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        else:
            values[key] = str(value)
    return values, secrets


def _project_name(project_dir: Path) -> str:
    try:
        doc = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
        return str(doc.get("name") or "genai-endpoints")
    except (OSError, yaml.YAMLError):
        return "genai-endpoints"


def synth(
    stack: str,
    config_file: Path | None = None,
    *,
    package_dir: Path | None = None,
    project_dir: Path | None = None,
    config_overrides: dict[str, Any] | None = None,
) -> SynthResult:
    """Run the program for ``stack`` under mocks; return every resource and the outputs."""
    project_dir = (project_dir or find_project_dir()).resolve()
    path = config_file or project_dir / f"Pulumi.{stack}.yaml"
    config = read_stack_file(Path(path))
    if config_overrides:
        config.update(config_overrides)
    values, secrets = runtime_config(config)
    project = _project_name(project_dir)
    return run_program(project, stack, values, secrets, project_dir, package_dir)


def run_program(
    project: str,
    stack: str,
    values: dict[str, str],
    secrets: list[str],
    project_dir: Path,
    package_dir: Path | None = None,
) -> SynthResult:
    from infra.__main__ import main

    region = "us-east-1"
    with contextlib.suppress(json.JSONDecodeError, AttributeError):
        region = json.loads(values.get("genai-endpoints:aws", "{}")).get("region", region)
    mocks = RecordingMocks(region=str(region), root=project_dir)
    # The mock runtime keeps global state: start each run from a clean slate (fresh
    # settings, config, root stack) so runs in one process do not see each other.
    runtime_settings.ROOT.set(None)
    saved_env = {
        k: os.environ.pop(k)
        for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")
        if k in os.environ
    }
    try:
        pulumi.runtime.set_all_config(values, secrets)
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=True)
        try:
            _sync_await(run_pulumi_func(lambda: main(project_dir, package_dir)))
        except (pulumi.RunError, ConfigError) as exc:
            raise SynthError(str(exc)) from None
        root = runtime_settings.get_root_resource()
        outputs = _resolve(getattr(root, "outputs", {}) or {})
    finally:
        os.environ.update(saved_env)
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_all_config({}, [])
    resources = sorted(mocks.resources, key=lambda r: (r["type"], r["name"]))
    return SynthResult(project=project, stack=stack, resources=resources, outputs=outputs)


def _resolve(outputs: dict[str, Any]) -> dict[str, Any]:
    async def collect() -> dict[str, Any]:
        result = {}
        for key, value in outputs.items():
            out = pulumi.Output.from_input(value)
            known = await out.is_known()
            result[key] = _plain(await out.future()) if known else "<unknown>"
        return result

    return _sync_await(collect())
