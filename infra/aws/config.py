"""The ``genai-endpoints:aws`` section and its plan: checked against manifest and catalog.

AWS specifics of the config live here and nowhere else; ``infra.config`` composes the
sections of all clouds through ``infra.clouds``.

Checks across keys of the section (fleet sizes, network, rollout steps) are the section's
model validator; checks against the task, the manifest and the catalog are ``plan``'s.

Rollouts are planned here: blue/green steps are whole instances (``INSTANCE_COUNT``, checked
against the fleet sizes autoscaling allows: a canary at most half of the smallest fleet, a
linear step 10-50 % of any fleet), and the worst-case rollout (new fleet provisioned, every
bake, the old fleet's termination wait) must fit SageMaker's own limit on a blue/green update
(``MaximumExecutionTimeoutInSeconds`` ≤ 28800); ``pulumi up`` waits exactly that long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra import catalog
from infra.aws.ami import AmiError, InferenceAmi, inference_ami, serving_cuda
from infra.common import (
    LONG_TASKS,
    NAMESPACE,
    CloudSection,
    ConfigError,
    Section,
    check_emails,
    check_webhooks,
    cross_field_error,
)
from infra.manifest import PackageManifest
from infra.runtime import ImageSource, image_source, split_pinned
from infra.serving import EngineSpeed, engine_env
from infra.settings import CommonSettings, section_of, stack_package
from scoring.server.contracts import CLOUDS

# SageMaker's own limits, from its contract descriptor (the one place they are written)
_REALTIME = CLOUDS["aws"].limit("realtime")
SAGEMAKER_REALTIME_TIMEOUT_S = _REALTIME.timeout_s
SAGEMAKER_ASYNC_TIMEOUT_S = CLOUDS["aws"].limit("async").timeout_s  # InvocationTimeoutSeconds
BLUE_GREEN_MAX_S = 28800  # BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds: 600-28800
LAUNCH_S = 600  # new instances to "model download starts": conservative
SNS_ARN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"
KEY = f"{NAMESPACE}:aws"


def download_timeout_s(size_bytes: int) -> int:
    """ModelDataDownloadTimeoutInSeconds: ~50 MB/s from S3 (conservative), 10 min floor."""
    return min(3600, max(600, int(size_bytes / 50e6) * 2 + 300))


def startup_timeout_s(size_bytes: int) -> int:
    """ContainerStartupHealthCheckTimeoutInSeconds: weights to GPU + warm-up (nothing is
    installed at start); 10 min floor."""
    return min(3600, max(600, int(size_bytes / 1e9) * 30 + 600))


class Deployment(Section):
    """Blue/green update policy: how traffic moves from the old fleet to the new one."""

    strategy: Literal["all-at-once", "canary", "linear"] = "all-at-once"
    step_instances: int = Field(default=1, ge=1, le=50)  # canary size, or linear step
    wait_seconds: int = Field(default=300, ge=0, le=3600)  # bake time per step
    termination_wait_seconds: int = Field(default=0, ge=0, le=3600)  # keep the old fleet this long
    auto_rollback: bool = True  # roll back when the 5xx or latency alarm fires


class Alarms(Section):
    """CloudWatch alarms and who hears them: no alarm may fire into the void.

    ``enabled`` unset: the alarms are made when a destination is set (``topicArn``, or
    ``emails``/``webhooks``: the stack creates a topic); ``true``: a destination is required
    (refused otherwise); ``false``: none. The 5xx and latency alarms that guard a rollout are
    made whenever ``deployment.autoRollback`` is on: SageMaker rolls back on them, which is a
    destination of its own (they notify the destination too, when there is one)."""

    enabled: bool | None = None
    error5xx_rate: float = Field(default=0.01, gt=0, le=1, alias="error5xxRate")
    error4xx_rate: float = Field(default=0.05, gt=0, le=1, alias="error4xxRate")
    latency_p90_seconds: float = Field(default=45, gt=0, le=3600)
    backlog: int = Field(default=50, ge=1)  # async only: ApproximateBacklogSize
    period_seconds: Literal[60, 300] = 60
    evaluation_periods: int = Field(default=3, ge=1, le=60)
    topic_arn: str | None = Field(default=None, pattern=SNS_ARN)  # notified on alarm and OK
    emails: list[str] = Field(default_factory=list)  # subscribed to a topic the stack creates
    webhooks: list[str] = Field(default_factory=list)  # https URLs, likewise

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        return check_emails(v)

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, v: list[str]) -> list[str]:
        return check_webhooks(v)

    @property
    def creates_topic(self) -> bool:
        """The stack makes a topic (encrypted with its key) for ``emails``/``webhooks``."""
        return self.enabled is not False and bool(self.emails or self.webhooks)

    @property
    def notifies(self) -> bool:
        """Alarms that tell somebody are made: on, with a destination."""
        return self.enabled is not False and bool(self.topic_arn or self.emails or self.webhooks)


class Network(Section):
    subnet_ids: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    isolation: bool = False  # EnableNetworkIsolation: the container gets no network at all

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


class Lifecycle(Section):
    """What the bucket's lifecycle rule removes: multipart uploads never finished (an
    interrupted ``upload``, an async result cut off) anywhere in the bucket, and the async
    requests, results and failures under ``async/`` (``null``: kept)."""

    abort_incomplete_upload_days: int = Field(default=7, ge=1, le=3650)
    async_expiration_days: int | None = Field(default=7, ge=1, le=3650)


class DataCapture(Section):
    enabled: bool = False
    sampling_percent: int = Field(default=10, ge=1, le=100)


class AwsSection(CloudSection):
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
    instance_type: str = "ml.g5.xlarge"
    # InferenceAmiVersion of the variant; unset: the oldest driver that runs the lock's CUDA
    inference_ami_version: str | None = None
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
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket (dev and live tests)
    data_capture: DataCapture = DataCapture()
    lifecycle: Lifecycle = Lifecycle()  # the bucket's lifecycle rule
    deployment: Deployment = Deployment()
    alarms: Alarms = Alarms()
    network: Network = Network()
    speed: EngineSpeed = EngineSpeed()  # the engine's GENAI_* speed settings

    @field_validator("kms_key")
    @classmethod
    def _kms(cls, v: str) -> str:
        if v in ("aws-managed", "create") or re.fullmatch(
            r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}", v
        ):
            return v
        raise ValueError("allowed: 'aws-managed', 'create', or a KMS key ARN")

    @model_validator(mode="after")
    def _fits_together(self) -> AwsSection:
        """Checks across keys of this section, once it is switched on (a section switched off
        is kept as written and not read)."""
        if self.enabled:
            problem = _fleet_problem(self) or _network_problem(self.network)
            problem = problem or _steps_problem(self) or _alarms_problem(self)
            if problem:
                raise cross_field_error(problem)
        return self


def _fleet_problem(aws: AwsSection) -> str | None:
    if aws.min_instances > aws.max_instances:
        return (
            f"{KEY}.minInstances={aws.min_instances}: must be ≤ {KEY}.maxInstances="
            f"{aws.max_instances}"
        )
    return None


def _network_problem(net: Network) -> str | None:
    if bool(net.subnet_ids) != bool(net.security_group_ids):
        return (
            f"{KEY}.network: subnetIds={net.subnet_ids!r} and securityGroupIds="
            f"{net.security_group_ids!r}; allowed: both set (private networking) or both empty"
        )
    return None


def _alarms_problem(aws: AwsSection) -> str | None:
    """Alarms switched on must reach somebody; a topic the stack creates must be one
    CloudWatch can publish to (not under the AWS-managed key ``alias/aws/sns``, whose policy
    cannot let CloudWatch use it: https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns)."""
    a, akey = aws.alarms, f"{KEY}.alarms"
    if a.enabled and not a.notifies:
        return (
            f"{akey}.enabled=True: no destination, every alarm would notify nobody; allowed: "
            "alarms.topicArn (an SNS topic ARN), alarms.emails or alarms.webhooks (the stack "
            "creates a topic), or enabled false"
        )
    if a.creates_topic and aws.kms_key == "aws-managed":
        return (
            f"{akey}.emails/webhooks with {KEY}.kmsKey='aws-managed': CloudWatch alarms cannot "
            "publish to a topic encrypted with the AWS-managed key alias/aws/sns; allowed: "
            f"kmsKey 'create' or a key ARN (its policy must let cloudwatch.amazonaws.com use "
            f"it), or {akey}.topicArn (an existing topic)"
        )
    return None


def _steps_problem(aws: AwsSection) -> str | None:
    """Blue/green steps are whole instances, checked against the fleet sizes autoscaling
    allows: a canary at most half of the smallest fleet, a linear step 10-50 % of any."""
    d = aws.deployment
    lo, hi = aws.min_instances, aws.max_instances
    n = d.step_instances
    dkey = f"{KEY}.deployment"
    if d.strategy == "all-at-once":
        return None
    if 2 * n > lo:
        return (
            f"{dkey}.stepInstances={n}: a {d.strategy} step may be at most half of the "
            f"fleet and the fleet can be as small as minInstances={lo}; allowed: "
            f"minInstances ≥ {2 * n}, or strategy 'all-at-once'"
        )
    if d.strategy == "linear" and 10 * n < hi:
        return (
            f"{dkey}.stepInstances={n}: a linear step must be at least 10 % of the fleet "
            f"and the fleet can grow to maxInstances={hi}; allowed: stepInstances ≥ "
            f"{-(-hi // 10)}, maxInstances ≤ {10 * n}, or strategy 'canary'"
        )
    return None


@dataclass(frozen=True)
class Rollout:
    """A blue/green update's worst case, in seconds, and how long ``pulumi up`` waits."""

    provision_s: int  # new fleet: launch, model download, container start
    bake_s: int  # every wait between (and after) the traffic steps
    termination_s: int  # the old fleet kept after the shift
    steps: int

    @property
    def worst_s(self) -> int:
        return self.provision_s + self.bake_s + self.termination_s

    @property
    def max_execution_s(self) -> int:
        """MaximumExecutionTimeoutInSeconds: above the worst case, within the API's range."""
        return min(BLUE_GREEN_MAX_S, max(600, self.worst_s + 600))

    @property
    def wait_s(self) -> int:
        """How long ``pulumi up`` waits for InService: the update's limit plus a rollback."""
        return self.max_execution_s + self.provision_s


@dataclass(frozen=True)
class AwsPlan:
    """The AWS section checked against the manifest and the catalog."""

    settings: AwsSection
    manifest: PackageManifest
    weights_dir: Path
    project_dir: Path
    image: ImageSource
    instance: catalog.GpuInstance
    ami: InferenceAmi  # the host image, whose NVIDIA driver runs the lock's CUDA build
    mode: Literal["realtime", "async"]
    endpoint_name: str
    timeout_s: int  # one request, end to end (60 real-time, 3600 async)
    initial_instances: int
    rollout: Rollout
    engine_env: dict[str, str] = field(default_factory=dict)  # the stack's engine section

    @property
    def cost_min(self) -> float:
        return catalog.hourly_cost(self.instance, self.settings.min_instances)

    @property
    def cost_max(self) -> float:
        return catalog.hourly_cost(self.instance, self.settings.max_instances)


def plan(
    settings: CommonSettings, stack: str, project_dir: Path, package_dir: Path | None
) -> AwsPlan:
    aws = section_of(settings, "aws", AwsSection)
    try:
        instance = catalog.gpu_instance("sagemaker", aws.instance_type)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{KEY}.instanceType={aws.instance_type!r}: {exc}") from None
    try:
        ami = inference_ami(aws.inference_ami_version, serving_cuda())
    except AmiError as exc:
        raise ConfigError(
            f"{KEY}.inferenceAmiVersion={aws.inference_ami_version!r}: {exc}"
        ) from None
    mode = aws.mode or ("async" if settings.task in LONG_TASKS else "realtime")
    if mode == "realtime" and settings.task in LONG_TASKS:
        raise ConfigError(
            f"{KEY}.mode='realtime': task {settings.task!r} cannot finish within SageMaker "
            f"real-time limits ({SAGEMAKER_REALTIME_TIMEOUT_S} s, "
            f"{_REALTIME.max_request_bytes / 1e6:g} MB); allowed: 'async' "
            "(or leave mode unset)"
        )
    if mode == "realtime" and aws.min_instances < 1:
        raise ConfigError(
            f"{KEY}.minInstances=0: a real-time endpoint cannot scale to zero; "
            f"allowed: ≥ 1, or {KEY}.mode='async'"
        )
    manifest, weights_dir = stack_package(settings, project_dir, package_dir, CLOUDS["aws"].name)
    try:
        catalog.check_fits(instance, manifest.model.size_bytes)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{KEY}.instanceType={aws.instance_type!r}: {exc}") from None
    engine = engine_env(settings.engine, manifest)
    image = image_source(settings.runtime, "aws", manifest, project_dir)
    if image.pinned:
        _check_ecr(image.pinned, aws.region, settings.runtime)
    limit = manifest.limit(mode)
    default_timeout = (
        SAGEMAKER_REALTIME_TIMEOUT_S if mode == "realtime" else SAGEMAKER_ASYNC_TIMEOUT_S
    )
    timeout = min(limit.timeout_s if limit else default_timeout, default_timeout)
    name = aws.endpoint_name or endpoint_name_for(stack, manifest.model.id)
    return AwsPlan(
        settings=aws,
        manifest=manifest,
        weights_dir=weights_dir,
        project_dir=project_dir,
        image=image,
        instance=instance,
        ami=ami,
        mode=mode,
        endpoint_name=name,
        timeout_s=timeout,
        initial_instances=max(aws.min_instances, 1),
        rollout=_rollout(aws, manifest.model.size_bytes),
        engine_env=engine,
    )


def _check_ecr(image: str, region: str, runtime) -> None:
    """SageMaker pulls a model's image from Amazon ECR in the endpoint's own region."""
    repo, _ = split_pinned(image)
    host = repo.split("/", 1)[0]
    if not re.fullmatch(rf"\d{{12}}\.dkr\.ecr\.{re.escape(region)}\.amazonaws\.com(\.cn)?", host):
        which = "aws" if runtime.aws else "image"
        raise ConfigError(
            f"{NAMESPACE}:runtime.{which}={image!r}: SageMaker pulls the serving image from "
            f"Amazon ECR in the endpoint's region; allowed: ACCOUNT.dkr.ecr.{region}."
            "amazonaws.com/REPO@sha256:<64 hex> (or leave it unset: `pulumi up` builds and "
            "pushes one)"
        )


def _rollout(aws: AwsSection, size_bytes: int) -> Rollout:
    """The worst-case rollout of the (already checked) blue/green steps, checked against
    SageMaker's limit on one update."""
    d = aws.deployment
    hi, n = aws.max_instances, d.step_instances
    steps = {"all-at-once": 1, "canary": 2, "linear": -(-hi // n)}[d.strategy]
    rollout = Rollout(
        provision_s=LAUNCH_S + download_timeout_s(size_bytes) + startup_timeout_s(size_bytes),
        bake_s=d.wait_seconds * (steps + (1 if d.strategy == "linear" else 0)),
        termination_s=d.termination_wait_seconds,
        steps=steps,
    )
    if rollout.worst_s + 600 > BLUE_GREEN_MAX_S:
        raise ConfigError(
            f"{KEY}.deployment: the worst-case rollout takes ≈{rollout.worst_s} s (new fleet "
            f"{rollout.provision_s} s, {steps} step(s) × waitSeconds={d.wait_seconds}, "
            f"terminationWaitSeconds={d.termination_wait_seconds}); SageMaker stops a "
            f"blue/green update after {BLUE_GREEN_MAX_S} s; allowed: a smaller waitSeconds "
            "or terminationWaitSeconds, or larger stepInstances"
        )
    return rollout


def endpoint_name_for(stack: str, model_id: str) -> str:
    tail = re.sub(r"[^a-zA-Z0-9]+", "-", model_id.split("/")[-1]).strip("-").lower()
    name = re.sub(r"-+", "-", f"genai-{stack}-{tail}")[:63].strip("-")
    return name or "genai-endpoint"
