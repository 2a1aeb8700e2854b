"""Typed stack config, parsed once from ``pulumi.Config("genai-endpoints")``.

Every key under the ``genai-endpoints:`` namespace is read here and nowhere else. Any bad
key or value raises :class:`ConfigError` whose message names the key, the value and what
is allowed; ``infra.__main__`` turns it into one line and no traceback.

Stack file shape (``Pulumi.<stack>.yaml``)::

    config:
      genai-endpoints:package: build/packages     # folder holding <cloud>/manifest.json
      genai-endpoints:task: text-to-image
      genai-endpoints:environment: dev            # default: the stack name
      genai-endpoints:tags: {owner: ml-platform, costCentre: cc-1234}
      genai-endpoints:hubToken: {secure: ...}     # optional, only via `config set --secret`
      genai-endpoints:aws: {enabled: true, region: us-east-1, instanceType: ml.g5.xlarge, ...}
      genai-endpoints:gcp: {enabled: false}
      genai-endpoints:azure: {enabled: false}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from infra import catalog
from infra.manifest import ManifestError, PackageManifest, load_manifest

NAMESPACE = "genai-endpoints"
TASKS = ("text-to-image", "image-to-image", "inpainting", "outpainting", "text-to-video")
Task = Literal["text-to-image", "image-to-image", "inpainting", "outpainting", "text-to-video"]
# Tasks whose work can exceed a synchronous call (SageMaker real-time: 60 s, 6 MB).
LONG_TASKS = frozenset({"text-to-video"})
SAGEMAKER_REALTIME_TIMEOUT_S = 60
SAGEMAKER_REALTIME_PAYLOAD_BYTES = 6 * 1024 * 1024
SAGEMAKER_ASYNC_TIMEOUT_S = 3600
OBJECT_KEYS = ("tags", "aws", "gcp", "azure")
SECRET_KEYS = ("hubToken",)


class ConfigError(ValueError):
    """Bad stack config: the message names the key, the value and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=True,
    )


class Tags(_Section):
    owner: str = Field(min_length=1, max_length=128)
    cost_centre: str = Field(min_length=1, max_length=128)


class Deployment(_Section):
    """Blue/green update policy: how traffic moves from the old fleet to the new one."""

    strategy: Literal["all-at-once", "canary", "linear"] = "all-at-once"
    step_percent: int = Field(default=10, ge=1, le=50)  # canary size, or linear step
    wait_seconds: int = Field(default=300, ge=0, le=3600)  # bake time per step
    termination_wait_seconds: int = Field(default=0, ge=0, le=3600)  # keep the old fleet this long
    auto_rollback: bool = True  # roll back when an alarm fires during the update


class Alarms(_Section):
    enabled: bool = True
    error5xx_rate: float = Field(default=0.01, gt=0, le=1, alias="error5xxRate")
    error4xx_rate: float = Field(default=0.05, gt=0, le=1, alias="error4xxRate")
    latency_p90_seconds: float = Field(default=45, gt=0, le=3600)
    backlog: int = Field(default=50, ge=1)  # async only: ApproximateBacklogSize
    period_seconds: Literal[60, 300] = 60
    evaluation_periods: int = Field(default=3, ge=1, le=60)


class Network(_Section):
    subnet_ids: list[str] = []
    security_group_ids: list[str] = []
    isolation: bool = False  # enable_network_isolation: the container gets no network at all

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.fullmatch(r"subnet-[0-9a-f]{8,17}", s):
                raise ValueError(f"{s!r} is not a subnet id; allowed: 'subnet-' + 8-17 hex")
        return v

    @field_validator("security_group_ids")
    @classmethod
    def _sgs(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.fullmatch(r"sg-[0-9a-f]{8,17}", s):
                raise ValueError(f"{s!r} is not a security group id; allowed: 'sg-' + 8-17 hex")
        return v


class DataCapture(_Section):
    enabled: bool = False
    sampling_percent: int = Field(default=10, ge=1, le=100)


class AwsSection(_Section):
    enabled: bool = False
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
    instance_type: str = "ml.g5.xlarge"
    mode: Literal["realtime", "async"] | None = None  # default: async for video, else realtime
    min_instances: int = Field(default=1, ge=0, le=100)
    max_instances: int = Field(default=1, ge=1, le=100)
    target_invocations_per_instance: int = Field(default=20, ge=1, le=10000)  # per minute
    backlog_per_instance: int = Field(default=2, ge=1, le=1000)  # async scaling target
    max_concurrent_invocations: int = Field(default=1, ge=1, le=1000)  # async, per instance
    scale_in_cooldown_seconds: int = Field(default=600, ge=0, le=3600)
    scale_out_cooldown_seconds: int = Field(default=120, ge=0, le=3600)
    kms_key: str = Field(default="aws-managed")
    bucket_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    endpoint_name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    deploy_endpoint: bool = True  # false: storage, key and role only (before the first upload)
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket (dev and live tests)
    data_capture: DataCapture = DataCapture()
    deployment: Deployment = Deployment()
    alarms: Alarms = Alarms()
    network: Network = Network()

    @field_validator("kms_key")
    @classmethod
    def _kms(cls, v: str) -> str:
        if v in ("aws-managed", "create") or re.fullmatch(
            r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}", v
        ):
            return v
        raise ValueError("allowed: 'aws-managed', 'create', or a KMS key ARN")


class GcpSection(_Section):
    enabled: bool = False


class AzureSection(_Section):
    enabled: bool = False


class StackSettings(_Section):
    package: str = Field(min_length=1)
    task: Task
    environment: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    tags: Tags
    aws: AwsSection = AwsSection()
    gcp: GcpSection = GcpSection()
    azure: AzureSection = AzureSection()


ALLOWED_TOP_KEYS = tuple(f.alias or n for n, f in StackSettings.model_fields.items()) + SECRET_KEYS


# --------------------------------------------------------------------------- resolved plans


@dataclass(frozen=True)
class AwsPlan:
    """The AWS section checked against the manifest and the catalog."""

    settings: AwsSection
    manifest: PackageManifest
    code_dir: Path
    instance: catalog.GpuInstance
    mode: Literal["realtime", "async"]
    endpoint_name: str
    model_server_timeout_s: int
    initial_instances: int

    @property
    def cost_min(self) -> float:
        return catalog.hourly_cost(self.instance, self.settings.min_instances)

    @property
    def cost_max(self) -> float:
        return catalog.hourly_cost(self.instance, self.settings.max_instances)


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    settings: StackSettings
    hub_token: pulumi.Output[str] | None
    aws: AwsPlan | None

    @property
    def environment(self) -> str:
        return self.settings.environment or self.stack

    def tags(self) -> dict[str, str]:
        """Tags for every taggable resource."""
        return {
            "project": self.project,
            "stack": self.stack,
            "environment": self.environment,
            "owner": self.settings.tags.owner,
            "cost-centre": self.settings.tags.cost_centre,
        }


# --------------------------------------------------------------------------- reading


def _raw_keys() -> dict[str, Any]:
    """Every ``genai-endpoints:*`` key the engine passed in, with its raw string value.

    ``pulumi.Config`` cannot enumerate keys, and refusing unknown keys needs that: the
    runtime keeps them in ``pulumi.runtime.config`` (set by the mocks) and the language host
    passes them in ``PULUMI_CONFIG``.
    """
    merged: dict[str, Any] = {}
    merged.update(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    prefix = NAMESPACE + ":"
    return {k[len(prefix) :]: v for k, v in merged.items() if k.startswith(prefix)}


def _secret_keys() -> set[str]:
    keys = set(runtime_config.get_config_secret_keys_env())
    keys |= set(runtime_config._SECRET_KEYS.get())
    return keys


def _loc_key(loc: tuple[Any, ...]) -> str:
    return f"{NAMESPACE}:" + ".".join(str(p) for p in loc)


def _allowed_at(loc: tuple[Any, ...]) -> list[str]:
    cls: Any = StackSettings
    for part in loc:
        fields = {f.alias or n: f for n, f in cls.model_fields.items()}
        field = fields.get(part)
        ann = getattr(field, "annotation", None) if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        cls = ann
    return [f.alias or n for n, f in cls.model_fields.items()]


def _format(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = _loc_key(loc)
        if e["type"] == "extra_forbidden":
            allowed = _allowed_at(loc[:-1])
            parts.append(f"unknown key {key}; allowed keys: {', '.join(allowed)}")
        elif e["type"] == "missing":
            parts.append(f"{key} is required")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{key}={e['input']!r}: {msg}")
    return "; ".join(parts)


def read_settings() -> tuple[StackSettings, pulumi.Output[str] | None]:
    """Parse and validate every key in the namespace (no manifest or catalog checks yet)."""
    raw = _raw_keys()
    unknown = sorted(set(raw) - set(ALLOWED_TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown key {NAMESPACE}:{unknown[0]}; allowed keys: {', '.join(ALLOWED_TOP_KEYS)}"
        )
    cfg = pulumi.Config(NAMESPACE)
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECRET_KEYS:
            continue
        if key in OBJECT_KEYS:
            try:
                parsed = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                parsed = value
            if not isinstance(parsed, dict):
                raise ConfigError(
                    f"{NAMESPACE}:{key}={value!r}: must be an object; allowed keys: "
                    f"{', '.join(_allowed_at((key,)))} (set one with "
                    f"`pulumi config set --path {NAMESPACE}:{key}.<name> <value>`)"
                )
            data[key] = parsed
        else:
            data[key] = value
    try:
        settings = StackSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None

    hub_token = None
    if "hubToken" in raw:
        if f"{NAMESPACE}:hubToken" not in _secret_keys():
            raise ConfigError(
                f"{NAMESPACE}:hubToken is stored in plain text; allowed: a secret only, set "
                f"with `pulumi config set --secret {NAMESPACE}:hubToken <token>`"
            )
        hub_token = cfg.require_secret("hubToken")
    return settings, hub_token


def _aws_plan(
    settings: StackSettings, stack: str, project_dir: Path, package_dir: Path | None
) -> AwsPlan:
    aws = settings.aws
    key = f"{NAMESPACE}:aws"
    try:
        instance = catalog.gpu_instance("sagemaker", aws.instance_type)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{key}.instanceType={aws.instance_type!r}: {exc}") from None
    if aws.min_instances > aws.max_instances:
        raise ConfigError(
            f"{key}.minInstances={aws.min_instances}: must be ≤ {key}.maxInstances="
            f"{aws.max_instances}"
        )
    mode = aws.mode or ("async" if settings.task in LONG_TASKS else "realtime")
    if mode == "realtime" and settings.task in LONG_TASKS:
        raise ConfigError(
            f"{key}.mode='realtime': task {settings.task!r} cannot finish within SageMaker "
            f"real-time limits ({SAGEMAKER_REALTIME_TIMEOUT_S} s, "
            f"{SAGEMAKER_REALTIME_PAYLOAD_BYTES // 2**20} MB); allowed: 'async' "
            "(or leave mode unset)"
        )
    if mode == "realtime" and aws.min_instances < 1:
        raise ConfigError(
            f"{key}.minInstances=0: a real-time endpoint cannot scale to zero; "
            f"allowed: ≥ 1, or {key}.mode='async'"
        )
    net = aws.network
    if bool(net.subnet_ids) != bool(net.security_group_ids):
        raise ConfigError(
            f"{key}.network: subnetIds={net.subnet_ids!r} and securityGroupIds="
            f"{net.security_group_ids!r}; allowed: both set (private networking) or both empty"
        )
    pkg = package_dir or (project_dir / settings.package)
    try:
        manifest, code_dir = load_manifest(pkg, "sagemaker")
    except ManifestError as exc:
        raise ConfigError(f"{NAMESPACE}:package={str(pkg)!r}: {exc}") from None
    if settings.task not in manifest.model.tasks:
        raise ConfigError(
            f"{NAMESPACE}:task={settings.task!r}: the package's model "
            f"{manifest.model.id!r} supports only: {', '.join(manifest.model.tasks)}"
        )
    try:
        catalog.check_fits(instance, manifest.model.size_bytes)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{key}.instanceType={aws.instance_type!r}: {exc}") from None
    if net.isolation and manifest.serving.needs_egress:
        raise ConfigError(
            f"{key}.network.isolation=True: the package's serving container downloads "
            "packages at start (serving.needs_egress); allowed: false, or a package whose "
            "image already holds its requirements"
        )
    limit = manifest.limit(mode)
    default_timeout = (
        SAGEMAKER_REALTIME_TIMEOUT_S if mode == "realtime" else SAGEMAKER_ASYNC_TIMEOUT_S
    )
    timeout = min(limit.timeout_s if limit else default_timeout, default_timeout)
    name = aws.endpoint_name or _endpoint_name(stack, manifest.model.id)
    return AwsPlan(
        settings=aws,
        manifest=manifest,
        code_dir=code_dir,
        instance=instance,
        mode=mode,
        endpoint_name=name,
        model_server_timeout_s=timeout,
        initial_instances=max(aws.min_instances, 1),
    )


def _endpoint_name(stack: str, model_id: str) -> str:
    tail = re.sub(r"[^a-zA-Z0-9]+", "-", model_id.split("/")[-1]).strip("-").lower()
    name = re.sub(r"-+", "-", f"genai-{stack}-{tail}")[:63].strip("-")
    return name or "genai-endpoint"


def load(project_dir: Path, package_dir: Path | None = None) -> StackConfig:
    """Read the whole stack config once, check it against manifest and catalog."""
    settings, hub_token = read_settings()
    enabled = [n for n in ("aws", "gcp", "azure") if getattr(settings, n).enabled]
    if not enabled:
        raise ConfigError(
            f"no cloud enabled; allowed: set one of {NAMESPACE}:aws.enabled, "
            f"{NAMESPACE}:gcp.enabled, {NAMESPACE}:azure.enabled to true"
        )
    for name in ("gcp", "azure"):
        if getattr(settings, name).enabled:
            raise ConfigError(
                f"{NAMESPACE}:{name}.enabled=True: the {name} component is not built yet; "
                "allowed: false"
            )
    stack = pulumi.get_stack()
    aws = _aws_plan(settings, stack, project_dir, package_dir) if settings.aws.enabled else None
    return StackConfig(
        project=pulumi.get_project(),
        stack=stack,
        settings=settings,
        hub_token=hub_token,
        aws=aws,
    )
