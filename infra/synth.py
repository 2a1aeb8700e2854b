"""Offline plan: run the Pulumi program under the SDK's mock runtime and record resources.

No credentials, no Pulumi CLI, no provider plugins, no Docker: ``pulumi.runtime.set_mocks``
stands in for the engine, a stack file's ``config:`` is fed through
``pulumi.runtime.set_all_config`` (secure values become the placeholder ``[secret]``, marked
secret), and every resource the program registers is recorded from the mocks'
``new_resource`` with its type token, name and inputs, plus (through a stack transformation)
its parent and every resource it depends on — explicitly (``depends_on``) or through an input
that is another resource's output. The program itself is ``infra.__main__.main``, the same
code ``pulumi up`` runs; the project folder is found from the current folder (or given), and
a folder holding no ``Pulumi.yaml`` is refused rather than replaced by another checkout.
"""

from __future__ import annotations

import contextlib
import hashlib
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
    project_dir: Path | None = None
    stack_file: Path | None = None

    def by_type(self, token: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == token]

    def named(self, name: str) -> dict[str, Any]:
        return next(r for r in self.resources if r["name"] == name)

    def cost(self) -> dict[str, dict[str, Any]]:
        """Estimated $/hour per enabled cloud, from the stack outputs."""
        return {
            cloud: {
                "usd_per_hour_min": out.get("usd_per_hour_min"),
                "usd_per_hour_max": out.get("usd_per_hour_max"),
                "note": out.get("price_note"),
            }
            for cloud, out in self.outputs.items()
            if isinstance(out, dict) and "usd_per_hour_min" in out
        }


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
    if isinstance(value, pulumi.output.Unknown):
        return "<known after deploy>"  # its repr carries a memory address: plans would differ
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


def fake_digest(name: str) -> str:
    """A stand-in image digest: ``sha256:`` + 64 hex, stable per resource name."""
    return "sha256:" + hashlib.sha256(f"image {name}".encode()).hexdigest()


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every registration with its inputs plus plausible computed attributes."""

    def __init__(self, region: str = "us-east-1", root: Path | None = None) -> None:
        self.region = region
        self.root = root
        self.resources: list[dict[str, Any]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = {k: v for k, v in dict(args.inputs).items() if k != "__provider"}
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
        if typ == "docker-build:index:Image":
            state["digest"] = fake_digest(args.name)
        elif typ == "pulumi-python:dynamic/sagemaker:Endpoint":
            name = inputs.get("endpoint_name")
            state["arn"] = f"arn:aws:sagemaker:{self.region}:{FAKE_ACCOUNT}:endpoint/{name}"
        elif typ == "aws:ecr/repository:Repository":
            name = inputs.get("name") or args.name
            state["repositoryUrl"] = f"{FAKE_ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{name}"
            state["registryId"] = FAKE_ACCOUNT
            state["arn"] = f"arn:aws:ecr:{self.region}:{FAKE_ACCOUNT}:repository/{name}"
            rid = name
        elif typ == "aws:s3/bucket:Bucket":
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
        elif typ == "gcp:projects/serviceIdentity:ServiceIdentity":
            service = str(inputs.get("service", "x")).split(".")[0]
            email = f"service-123456789@gcp-sa-{service}.iam.gserviceaccount.com"
            state.update(email=email, member=f"serviceAccount:{email}")
        elif typ == "azure-native:containerregistry:Registry":
            state["loginServer"] = (
                f"{str(inputs.get('registryName', 'registry')).lower()}.azurecr.io"
            )
        elif typ.startswith("azure-native:"):
            _azure_identity(typ, state)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": FAKE_ACCOUNT,
                "arn": f"arn:aws:iam::{FAKE_ACCOUNT}:user/synth",
                "id": FAKE_ACCOUNT,
                "userId": "AIDASYNTH",
            }
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {"userName": "AWS", "password": "synth-password", "id": FAKE_ACCOUNT}
        if token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"accessToken": "synth-token", "id": "synth"}
        if token == "gcp:organizations/getProject:getProject":
            return {"number": "123456789", "projectId": args.args.get("projectId")}
        if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            email = "service-123456789@gs-project-accounts.iam.gserviceaccount.com"
            return {"emailAddress": email, "member": f"serviceAccount:{email}"}
        if token == "azure-native:authorization:getClientConfig":
            return {
                "subscriptionId": "00000000-0000-0000-0000-000000000000",
                "tenantId": "11111111-1111-1111-1111-111111111111",
                "objectId": "22222222-2222-2222-2222-222222222222",
                "clientId": "synth",
            }
        return {}


class GraphRecorder:
    """A stack transformation that sees every resource's options: its parent, its explicit
    ``depends_on`` and the outputs among its inputs (resolved to resources after the run)."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {}
        self.explicit: dict[str, set[str]] = {}
        self.outputs: dict[str, list[pulumi.Output]] = {}
        self.ignore_changes: dict[str, list[str]] = {}
        self.retain: dict[str, bool] = {}

    def __call__(self, args: pulumi.ResourceTransformationArgs):
        opts = args.opts or pulumi.ResourceOptions()
        deps = opts.depends_on or []
        deps = deps if isinstance(deps, list) else [deps]
        name = args.name
        self.parent[name] = getattr(opts.parent, "_name", None)
        self.explicit[name] = {d._name for d in deps if hasattr(d, "_name")}
        self.outputs[name] = list(_outputs_in(args.props))
        self.ignore_changes[name] = list(opts.ignore_changes or [])
        self.retain[name] = bool(opts.retain_on_delete)
        return None

    def dependencies(self) -> dict[str, list[str]]:
        async def collect() -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for name, outs in self.outputs.items():
                names = set(self.explicit.get(name, set()))
                for out in outs:
                    for res in await out.resources():
                        names.add(res._name)
                names.discard(name)
                found[name] = sorted(names)
            return found

        return _sync_await(collect())


def _outputs_in(value: Any, depth: int = 0):
    """Every ``pulumi.Output`` inside a resource's inputs (dicts, lists, input types)."""
    if depth > 12:
        return
    if isinstance(value, pulumi.Output):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _outputs_in(v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _outputs_in(v, depth + 1)
    elif (
        type(value).__module__.startswith("pulumi")
        and hasattr(value, "__dict__")
        and not isinstance(value, pulumi.Resource)
    ):
        for v in vars(value).values():
            yield from _outputs_in(v, depth + 1)


def find_project_dir(start: Path | None = None) -> Path:
    """The folder holding ``Pulumi.yaml``: ``start`` (default: the current folder) or the
    nearest parent. No fallback: planning some other checkout's stack would be a lie."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise SynthError(
        f"no Pulumi.yaml in {here} or any folder above it; allowed: run from the project "
        "folder (a checkout of genai-endpoints), or pass --project-dir"
    )


def check_program(project_dir: Path) -> None:
    """The project's ``main`` folder, if it exists, is the program this process imports."""
    try:
        doc = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SynthError(f"{project_dir / 'Pulumi.yaml'} cannot be read: {exc}") from None
    main = project_dir / str(doc.get("main") or ".")
    ours = Path(__file__).resolve().parent
    if (main / "__main__.py").is_file() and main.resolve() != ours:
        raise SynthError(
            f"the project folder {project_dir} runs the program in {main}, but this "
            f"genai-endpoints is installed from {ours.parent}; allowed: run the project's own "
            f"CLI (`{project_dir}/.venv/bin/genai-endpoints`, or PYTHONPATH={project_dir})"
        )


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
    if project_dir is not None and not (Path(project_dir) / "Pulumi.yaml").is_file():
        raise SynthError(f"--project-dir {project_dir}: no Pulumi.yaml there")
    project_dir = (project_dir or find_project_dir()).resolve()
    check_program(project_dir)
    path = Path(config_file or project_dir / f"Pulumi.{stack}.yaml").resolve()
    config = read_stack_file(path)
    if config_overrides:
        config.update(config_overrides)
    values, secrets = runtime_config(config)
    project = _project_name(project_dir)
    result = run_program(project, stack, values, secrets, project_dir, package_dir)
    result.stack_file = path
    return result


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
    graph = GraphRecorder()
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

            def program() -> None:
                pulumi.runtime.register_stack_transformation(graph)
                main(project_dir, package_dir)

            _sync_await(run_pulumi_func(program))
        except (pulumi.RunError, ConfigError) as exc:
            raise SynthError(str(exc)) from None
        root = runtime_settings.get_root_resource()
        outputs = _resolve(getattr(root, "outputs", {}) or {})
        deps = graph.dependencies()
    finally:
        os.environ.update(saved_env)
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_all_config({}, [])
    for r in mocks.resources:
        r["depends_on"] = deps.get(r["name"], [])
        r["parent"] = graph.parent.get(r["name"])
        r["ignore_changes"] = graph.ignore_changes.get(r["name"], [])
        r["retain_on_delete"] = graph.retain.get(r["name"], False)
    resources = sorted(mocks.resources, key=lambda r: (r["type"], r["name"]))
    return SynthResult(
        project=project,
        stack=stack,
        resources=resources,
        outputs=outputs,
        project_dir=project_dir,
    )


UNKNOWN = "<known after pulumi up>"


def _resolve(outputs: dict[str, Any]) -> dict[str, Any]:
    """Stack outputs as data; a value only the deployment can know shows as ``UNKNOWN``
    (each key of an exported object on its own, so one unknown does not hide the rest)."""

    async def one(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: await one(v) for k, v in value.items()}
        out = pulumi.Output.from_input(value)
        if not await out.is_known():
            return UNKNOWN
        return _plain(await out.future())

    async def collect() -> dict[str, Any]:
        return {key: await one(value) for key, value in outputs.items()}

    return _sync_await(collect())
