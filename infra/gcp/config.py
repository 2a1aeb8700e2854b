"""The ``genai-endpoints:gcp`` section and its plan: checked against manifest and catalog.

Google Cloud specifics of the config live here and nowhere else; ``infra.config`` composes
the sections of all clouds through ``infra.clouds``. Nothing here imports ``pulumi_gcp``:
reading and checking config must stay cheap.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from infra import catalog
from infra.common import LONG_TASKS, NAMESPACE, CloudSection, ConfigError, Section
from infra.manifest import CloudLimit, PackageManifest
from infra.runtime import ImageSource, image_source
from infra.serving import EngineSpeed, engine_env
from infra.settings import stack_package
from scoring.server.contracts import CLOUDS

if TYPE_CHECKING:
    from infra.settings import CommonSettings as StackSettings

KEY = f"{NAMESPACE}:gcp"
CLOUD = CLOUDS["gcp"].name  # the package folder and catalog table this section reads
# Vertex AI's own limits, from its contract descriptor; the manifest may only narrow them.
SHARED_LIMIT = CloudLimit(**asdict(CLOUDS["gcp"].limit("shared")))
DEDICATED_LIMIT = CloudLimit(**asdict(CLOUDS["gcp"].limit("dedicated")))
ACCELERATOR_DUTY_CYCLE = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
CPU_UTILIZATION = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
KMS_KEY_RE = (
    r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/([a-z0-9-]+)"
    r"/keyRings/[\w-]+/cryptoKeys/[\w-]+"
)
NETWORK_RE = r"projects/\d+/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
PROJECT_RE = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"


class RequestResponseLogging(Section):
    """Endpoint request/response logging to BigQuery (``predictRequestResponseLoggingConfig``)."""

    enabled: bool = False
    sampling_rate: float = Field(default=0.1, gt=0, le=1)
    # bq://project, bq://project.dataset or bq://project.dataset.table; default: the project
    bigquery_uri: str | None = Field(
        default=None, pattern=r"^bq://[a-z][a-z0-9-]{4,28}[a-z0-9](\.[A-Za-z0-9_]{1,1024}){0,2}$"
    )


class Psc(Section):
    """Private Service Connect: the endpoint is reachable only through PSC endpoints."""

    enabled: bool = False
    project_allowlist: list[str] = Field(default_factory=list)

    @field_validator("project_allowlist")
    @classmethod
    def _projects(cls, v: list[str]) -> list[str]:
        for p in v:
            if not re.fullmatch(PROJECT_RE, p):
                raise ValueError(f"{p!r} is not a project id; allowed: 6-30 of a-z, 0-9, '-'")
        return v


class Autoscaling(Section):
    """Targets (percent) for Vertex's replica autoscaler; unset ones are not sent."""

    accelerator_duty_cycle: int | None = Field(default=60, ge=1, le=100)
    cpu_utilization: int | None = Field(default=None, ge=1, le=100)


class Lifecycle(Section):
    """The bucket's lifecycle rule: XML API multipart uploads left unfinished are aborted
    after this many days (the bucket holds only the weights: nothing else expires)."""

    abort_incomplete_upload_days: int = Field(default=7, ge=1, le=3650)


class GcpSection(CloudSection):
    project: str | None = Field(default=None, pattern=PROJECT_RE)
    region: str = Field(default="us-central1", pattern=r"^[a-z]+-[a-z]+\d+$")
    machine_type: str = "g2-standard-8"
    accelerator_type: str | None = None  # default: the catalog's pairing for machineType
    accelerator_count: int | None = Field(default=None, ge=1, le=16)
    min_replicas: int = Field(default=1, ge=0, le=1000)
    max_replicas: int = Field(default=1, ge=1, le=1000)
    autoscaling: Autoscaling = Autoscaling()
    spot: bool = False
    # default: true for long tasks (video) or payloads/timeouts above the shared limits
    dedicated_endpoint: bool | None = None
    max_request_bytes: int | None = Field(default=None, ge=1)  # largest request you will send
    timeout_seconds: int | None = Field(default=None, ge=1)  # longest request you expect
    traffic_percent: int = Field(default=100, ge=1, le=100)  # a new model's share on rollout
    kms_key: str | None = None  # CMEK for bucket and endpoint; default: Google-managed
    network: str | None = None  # VPC peering: projects/<number>/global/networks/<name>
    psc: Psc = Psc()
    request_response_logging: RequestResponseLogging = RequestResponseLogging()
    bucket_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$")
    endpoint_id: str | None = Field(default=None, pattern=r"^[1-9][0-9]{0,9}$")
    force_destroy: bool = False  # let `pulumi destroy` empty the bucket (dev and live tests)
    lifecycle: Lifecycle = Lifecycle()  # the bucket's lifecycle rule
    enable_apis: bool = True
    container_logging: bool = True  # container stdout/stderr to Cloud Logging
    speed: EngineSpeed = EngineSpeed()  # the engine's GENAI_* speed settings
    access_logging: bool = False  # per-request access logs to Cloud Logging
    shared_memory_mb: int = Field(default=2048, ge=64, le=65536)
    operation_timeout_minutes: int = Field(default=90, ge=5, le=240)

    @field_validator("kms_key")
    @classmethod
    def _kms(cls, v: str | None) -> str | None:
        if v is None or re.fullmatch(KMS_KEY_RE, v):
            return v
        raise ValueError(
            "allowed: projects/<project>/locations/<region>/keyRings/<ring>/cryptoKeys/<key>"
        )

    @field_validator("network")
    @classmethod
    def _network(cls, v: str | None) -> str | None:
        if v is None or re.fullmatch(NETWORK_RE, v):
            return v
        raise ValueError("allowed: projects/<project number>/global/networks/<network name>")

    @model_validator(mode="after")
    def _consistent(self) -> GcpSection:
        """Checks across fields, for a section that is on (a plan is made only of those)."""
        if self.enabled:
            _check_project(self)
            _check_replicas(self)
            _check_key_region(self)
            _check_network(self)
            _check_logging_project(self)
        return self


# ------------------------------------------------------------------------- cross-field checks


def _check_project(gcp: GcpSection) -> None:
    if not gcp.project:
        raise ConfigError(
            f"{KEY}.project is required when {KEY}.enabled is true; allowed: a Google Cloud "
            "project id (6-30 of a-z, 0-9, '-')"
        )


def _check_replicas(gcp: GcpSection) -> None:
    """At least one replica, min ≤ max, and a target for the autoscaler."""
    if gcp.min_replicas < 1:
        raise ConfigError(
            f"{KEY}.minReplicas={gcp.min_replicas}: a Vertex AI deployment with dedicated "
            "resources keeps at least one replica; allowed: ≥ 1"
        )
    if gcp.min_replicas > gcp.max_replicas:
        raise ConfigError(
            f"{KEY}.minReplicas={gcp.min_replicas}: must be ≤ {KEY}.maxReplicas={gcp.max_replicas}"
        )
    auto = gcp.autoscaling
    if auto.accelerator_duty_cycle is None and auto.cpu_utilization is None:
        raise ConfigError(
            f"{KEY}.autoscaling: acceleratorDutyCycle and cpuUtilization are both unset; "
            "allowed: at least one target (1-100 percent)"
        )


def _check_key_region(gcp: GcpSection) -> None:
    if gcp.kms_key:
        key_region = re.fullmatch(KMS_KEY_RE, gcp.kms_key).group(1)  # type: ignore[union-attr]
        if key_region != gcp.region:
            raise ConfigError(
                f"{KEY}.kmsKey={gcp.kms_key!r}: the key is in {key_region!r}; Vertex AI needs a "
                f"key in the endpoint's region; allowed: a key in {gcp.region!r}"
            )


def _check_network(gcp: GcpSection) -> None:
    """VPC peering or Private Service Connect, not both; a PSC allow-list needs PSC."""
    if gcp.network and gcp.psc.enabled:
        raise ConfigError(
            f"{KEY}.network={gcp.network!r} and {KEY}.psc.enabled=True: an endpoint is either "
            "VPC-peered or reached through Private Service Connect; allowed: one of them"
        )
    if gcp.psc.project_allowlist and not gcp.psc.enabled:
        raise ConfigError(
            f"{KEY}.psc.projectAllowlist={gcp.psc.project_allowlist!r}: needs "
            f"{KEY}.psc.enabled=true; allowed: enable PSC or leave the list empty"
        )


def _check_logging_project(gcp: GcpSection) -> None:
    """A logging dataset the stack creates must be in its own project."""
    log = gcp.request_response_logging
    if not log.enabled or not log.bigquery_uri:
        return
    parts = log.bigquery_uri.removeprefix("bq://").split(".")
    if len(parts) >= 2 and parts[0] != gcp.project:
        raise ConfigError(
            f"{KEY}.requestResponseLogging.bigqueryUri={log.bigquery_uri!r}: the "
            f"dataset is in project {parts[0]!r}, which this stack does not manage; allowed: "
            f"bq://{gcp.project}.<dataset>[.<table>] (created by the stack), or "
            f"bq://{gcp.project} (Vertex creates a dataset)"
        )


@dataclass(frozen=True)
class GcpPlan:
    """The GCP section checked against the manifest and the catalog."""

    settings: GcpSection
    project: str
    manifest: PackageManifest
    weights_dir: Path
    project_dir: Path
    image: ImageSource
    instance: catalog.GpuInstance
    accelerator_type: str
    accelerator_count: int
    dedicated: bool
    limit: CloudLimit  # the request limits the endpoint is set up for
    endpoint_id: str
    bucket_name: str
    stack: str
    bigquery_dataset: str | None  # a dataset of this project the logging needs: created
    engine_env: dict[str, str] = field(default_factory=dict)  # the stack's engine section

    @property
    def inference_timeout_s(self) -> int | None:
        """``clientConnectionConfig.inferenceTimeout`` for a dedicated or PSC endpoint
        (Vertex's default is 10 minutes), None for a shared one."""
        if self.dedicated or self.settings.psc.enabled:
            return self.limit.timeout_s
        return None

    @property
    def cost_min(self) -> float:
        return catalog.hourly_cost(self.instance, self.settings.min_replicas)

    @property
    def cost_max(self) -> float:
        return catalog.hourly_cost(self.instance, self.settings.max_replicas)

    @property
    def endpoint_name(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.settings.region}/endpoints/{self.endpoint_id}"
        )


def plan(
    settings: StackSettings, stack: str, project_dir: Path, package_dir: Path | None
) -> GcpPlan:
    """The section (its own checks passed when it was read) against catalog and manifest."""
    gcp: GcpSection = settings.gcp
    assert gcp.project  # the section's own check: required when enabled
    instance, accelerator, count = _machine(gcp)
    manifest, weights_dir = stack_package(settings, project_dir, package_dir, CLOUD)
    engine = engine_env(settings.engine, manifest)
    image = image_source(settings.runtime, "gcp", manifest, project_dir)
    try:
        catalog.check_fits(instance, manifest.model.size_bytes)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{KEY}.machineType={gcp.machine_type!r}: {exc}") from None

    dedicated, limit = _choose_endpoint(settings.task, gcp, manifest)
    return GcpPlan(
        settings=gcp,
        project=gcp.project,
        manifest=manifest,
        weights_dir=weights_dir,
        project_dir=project_dir,
        image=image,
        instance=instance,
        accelerator_type=accelerator,
        accelerator_count=count,
        dedicated=dedicated,
        limit=limit,
        endpoint_id=gcp.endpoint_id or endpoint_id_for(gcp.project, gcp.region, stack),
        bucket_name=gcp.bucket_name or bucket_name_for(gcp.project, stack),
        stack=stack,
        bigquery_dataset=_logging_dataset(gcp),
        engine_env=engine,
    )


def _machine(gcp: GcpSection) -> tuple[catalog.GpuInstance, str, int]:
    """The machine type from the catalog, with the accelerator it is priced and checked with."""
    try:
        instance = catalog.gpu_instance(CLOUD, gcp.machine_type)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{KEY}.machineType={gcp.machine_type!r}: {exc}") from None
    accelerator = gcp.accelerator_type or instance.accelerator or ""
    if accelerator != instance.accelerator:
        raise ConfigError(
            f"{KEY}.acceleratorType={gcp.accelerator_type!r}: {gcp.machine_type} is priced and "
            f"checked with {instance.accelerator}; allowed: {instance.accelerator} (or leave it "
            "unset, or pick the machine type that pairs with your accelerator)"
        )
    count = gcp.accelerator_count or instance.gpu_count
    if count != instance.gpu_count:
        raise ConfigError(
            f"{KEY}.acceleratorCount={count}: {gcp.machine_type} takes "
            f"{instance.gpu_count} × {instance.accelerator}; allowed: {instance.gpu_count}"
        )
    return instance, accelerator, count


def _logging_dataset(gcp: GcpSection) -> str | None:
    """The BigQuery dataset request/response logging writes to, when the stack must create
    it: ``bq://<this project>.<dataset>[.<table>]`` (Vertex creates only the table, and a
    bare ``bq://<project>`` makes Vertex create its own dataset)."""
    log = gcp.request_response_logging
    if not log.enabled or not log.bigquery_uri:
        return None
    parts = log.bigquery_uri.removeprefix("bq://").split(".")
    return parts[1] if len(parts) >= 2 else None


def _choose_endpoint(
    task: str, gcp: GcpSection, manifest: PackageManifest
) -> tuple[bool, CloudLimit]:
    """Shared or dedicated: the limits the work needs decide; a contradiction is refused."""
    shared = _narrow(SHARED_LIMIT, manifest.limit("shared"))
    dedicated_limit = _narrow(DEDICATED_LIMIT, manifest.limit("dedicated"))
    need_bytes = gcp.max_request_bytes or 0
    need_seconds = gcp.timeout_seconds or 0
    why = []
    if task in LONG_TASKS:
        why.append(f"task {task!r} runs longer than {shared.timeout_s} s")
    if need_bytes > shared.max_request_bytes:
        why.append(f"maxRequestBytes={need_bytes} > {shared.max_request_bytes}")
    if need_seconds > shared.timeout_s:
        why.append(f"timeoutSeconds={need_seconds} > {shared.timeout_s}")
    big = dedicated_limit
    if need_bytes > big.max_request_bytes or need_seconds > big.timeout_s:
        raise ConfigError(
            f"{KEY}: maxRequestBytes={gcp.max_request_bytes} timeoutSeconds="
            f"{gcp.timeout_seconds}: beyond what any Vertex AI online endpoint serves; "
            f"allowed: ≤ {big.max_request_bytes} bytes and ≤ {big.timeout_s} s per request"
        )
    private_large = gcp.psc.enabled  # PSC endpoints get the dedicated limits
    if why and gcp.dedicated_endpoint is False and not private_large:
        raise ConfigError(
            f"{KEY}.dedicatedEndpoint=False: {'; '.join(why)}, beyond a shared Vertex AI "
            f"endpoint ({shared.max_request_bytes / 1e6:g} MB, {shared.timeout_s} s per "
            "request); allowed: true (or leave it unset), or psc.enabled=true"
        )
    if why and gcp.network:
        raise ConfigError(
            f"{KEY}.network={gcp.network!r}: {'; '.join(why)}; a VPC-peered endpoint keeps the "
            f"shared limits ({shared.max_request_bytes / 1e6:g} MB, {shared.timeout_s} s); "
            "allowed: psc.enabled=true or a dedicated endpoint without network"
        )
    if gcp.dedicated_endpoint and (gcp.network or gcp.psc.enabled):
        raise ConfigError(
            f"{KEY}.dedicatedEndpoint=True: a dedicated public endpoint cannot also be "
            "VPC-peered or PSC; allowed: dedicatedEndpoint false with network/psc, or no "
            "network/psc"
        )
    if gcp.dedicated_endpoint is None:
        dedicated = bool(why) and not private_large
    else:
        dedicated = gcp.dedicated_endpoint
    return dedicated, (big if (dedicated or private_large) else shared)


def _narrow(cloud: CloudLimit, package: CloudLimit | None) -> CloudLimit:
    if package is None:
        return cloud
    return CloudLimit(
        name=cloud.name,
        max_request_bytes=min(cloud.max_request_bytes, package.max_request_bytes),
        max_response_bytes=min(
            cloud.max_response_bytes or package.max_response_bytes or 0,
            package.max_response_bytes or cloud.max_response_bytes or 0,
        ),
        timeout_s=min(cloud.timeout_s, package.timeout_s),
    )


def endpoint_id_for(project: str, region: str, stack: str) -> str:
    """A stable numeric endpoint id (Vertex: ≤ 10 digits, no leading zero) for this stack."""
    digest = hashlib.sha256(f"{project}/{region}/{stack}/genai-endpoints".encode()).digest()
    return str(1_000_000_000 + int.from_bytes(digest[:8], "big") % 9_000_000_000)


def bucket_name_for(project: str, stack: str) -> str:
    """Bucket names are global: the project id (globally unique) makes this one unique."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"{project}-genai-{stack}".lower()).strip("-")
    if len(name) > 63:
        tail = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[:54].rstrip('-')}-{tail}"
    return name
