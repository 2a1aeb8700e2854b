"""The ``genai-endpoints:aws`` section and its plan: checked against manifest and catalog.

AWS specifics of the config live here and nowhere else; ``infra.config`` composes the
sections of all clouds through ``infra.clouds``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from infra import catalog
from infra.common import LONG_TASKS, NAMESPACE, CloudSection, ConfigError, Section
from infra.manifest import ManifestError, PackageManifest, load_manifest

if TYPE_CHECKING:
    from infra.config import StackSettings

SAGEMAKER_REALTIME_TIMEOUT_S = 60
SAGEMAKER_REALTIME_PAYLOAD_BYTES = 6 * 1024 * 1024
SAGEMAKER_ASYNC_TIMEOUT_S = 3600


class Deployment(Section):
    """Blue/green update policy: how traffic moves from the old fleet to the new one."""

    strategy: Literal["all-at-once", "canary", "linear"] = "all-at-once"
    step_percent: int = Field(default=10, ge=1, le=50)  # canary size, or linear step
    wait_seconds: int = Field(default=300, ge=0, le=3600)  # bake time per step
    termination_wait_seconds: int = Field(default=0, ge=0, le=3600)  # keep the old fleet this long
    auto_rollback: bool = True  # roll back when an alarm fires during the update


class Alarms(Section):
    enabled: bool = True
    error5xx_rate: float = Field(default=0.01, gt=0, le=1, alias="error5xxRate")
    error4xx_rate: float = Field(default=0.05, gt=0, le=1, alias="error4xxRate")
    latency_p90_seconds: float = Field(default=45, gt=0, le=3600)
    backlog: int = Field(default=50, ge=1)  # async only: ApproximateBacklogSize
    period_seconds: Literal[60, 300] = 60
    evaluation_periods: int = Field(default=3, ge=1, le=60)


class Network(Section):
    subnet_ids: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
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


class DataCapture(Section):
    enabled: bool = False
    sampling_percent: int = Field(default=10, ge=1, le=100)


class AwsSection(CloudSection):
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


def plan(
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
    name = aws.endpoint_name or endpoint_name_for(stack, manifest.model.id)
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


def endpoint_name_for(stack: str, model_id: str) -> str:
    tail = re.sub(r"[^a-zA-Z0-9]+", "-", model_id.split("/")[-1]).strip("-").lower()
    name = re.sub(r"-+", "-", f"genai-{stack}-{tail}")[:63].strip("-")
    return name or "genai-endpoint"
