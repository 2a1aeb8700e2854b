"""The ``genai-endpoints:azure`` section and its plan: checked against manifest and catalog.

Azure ML specifics of the config live here and nowhere else; ``infra.config`` composes the
sections of all clouds through ``infra.clouds``.

Request time is the constraint that shapes an Azure ML deployment: the plan refuses a config
whose largest accepted request cannot finish in time (:mod:`infra.azure.timing`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from infra import catalog
from infra.azure.timing import (
    KEY,
    REQUEST_TIMEOUT_MAX_MS,
    Timing,
    Workload,
    request_timing,
    step_seconds,
)
from infra.common import (
    CloudSection,
    ConfigError,
    Section,
    check_emails,
    check_webhooks,
)
from infra.manifest import PackageManifest
from infra.runtime import ImageSource, image_source
from infra.serving import EngineSpeed, engine_env
from infra.settings import stack_package

if TYPE_CHECKING:
    from infra.settings import CommonSettings as StackSettings

CLOUD = "azureml"  # the package folder and catalog section
MAX_DEPLOYMENTS = 20  # per endpoint
MIRROR_TRAFFIC_MAX = 50  # mirrored share, summed over deployments
MAX_INSTANCES = 50  # instances per deployment (Azure ML's default quota)
PACKAGES_DATASTORE = "genai_packages"  # the datastore the stack registers (identity-based)
PACKAGES_CONTAINER = "genai-packages"  # its blob container in the workspace storage account

# endpoint and deployment names: 3-32 characters, a letter first, single dashes between
# letters and digits (no "--", no dash at the end)
_NAME = r"^[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UAI = (
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/"
    r"Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$"
)
Access = Literal["Enabled", "Disabled"]
# addresses a storage or registry firewall never sees as a caller (Azure: public IPv4 only)
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8")
)


class ResourceGroup(Section):
    name: str | None = Field(default=None, pattern=r"^[-\w._()]{1,89}[-\w_()]$")
    create: bool = True  # false: use an existing group of that name (it must exist)


class Identity(Section):
    # SystemAssigned: the endpoint's own identity. UserAssigned: one the stack creates, or
    # ``userAssignedId`` (an existing one). Role assignments are made for either.
    type: Literal["SystemAssigned", "UserAssigned"] = "SystemAssigned"
    user_assigned_id: str | None = Field(default=None, pattern=_UAI)


class Deployment(Section):
    """One named deployment behind the endpoint (blue/green: two or more)."""

    name: str = Field(min_length=3, max_length=32, pattern=_NAME)
    traffic: int = Field(default=0, ge=0, le=100)  # % of live traffic
    mirror_traffic: int = Field(default=0, ge=0, le=MIRROR_TRAFFIC_MAX)  # % copied, answer dropped
    instance_type: str | None = None  # default: the section's instanceType
    instance_count: int | None = Field(default=None, ge=1, le=MAX_INSTANCES)  # no autoscale


class ScaleRule(Section):
    metric: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{1,63}$")
    source: Literal["deployment", "endpoint"] = "deployment"  # whose metric
    operator: Literal[
        "GreaterThan", "GreaterThanOrEqual", "LessThan", "LessThanOrEqual", "Equals", "NotEquals"
    ]
    threshold: float
    statistic: Literal["Average", "Min", "Max", "Sum"] = "Average"  # over the time grain
    time_aggregation: Literal["Average", "Minimum", "Maximum", "Total", "Count", "Last"] = "Average"
    window_minutes: int = Field(default=5, ge=5, le=720)  # timeWindow: 5 min to 12 h
    direction: Literal["Increase", "Decrease"]
    change: int = Field(default=1, ge=1, le=10)  # instances added or removed
    cooldown_minutes: int = Field(default=5, ge=1, le=10080)


DEFAULT_RULES = (
    ScaleRule.model_validate(
        {
            "metric": "GpuUtilizationPercentage",
            "operator": "GreaterThan",
            "threshold": 70,
            "windowMinutes": 5,
            "direction": "Increase",
            "cooldownMinutes": 5,
        }
    ),
    ScaleRule.model_validate(
        {
            "metric": "GpuUtilizationPercentage",
            "operator": "LessThan",
            "threshold": 20,
            "windowMinutes": 15,
            "direction": "Decrease",
            "cooldownMinutes": 15,
        }
    ),
)


class Autoscale(Section):
    enabled: bool = True
    min: int = Field(default=1, ge=0, le=MAX_INSTANCES)
    max: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    default: int | None = Field(default=None, ge=0, le=MAX_INSTANCES)  # default: min
    rules: list[ScaleRule] = Field(default_factory=lambda: list(DEFAULT_RULES))

    @property
    def initial(self) -> int:
        """Instances at creation: ``default``, else ``min``."""
        return self.default if self.default is not None else self.min


class Alarms(Section):
    """Metric alerts on the endpoint and who hears them: no alert may fire into the void.

    ``enabled`` unset: the alerts are made when a destination is set (``actionGroupId``, or
    ``emails``/``webhooks``: the stack creates an action group); ``true``: a destination is
    required (refused otherwise); ``false``: none."""

    enabled: bool | None = None
    error5xx_per_minute: float = Field(default=5, gt=0, alias="error5xxPerMinute")
    latency_p90_ms: int | None = Field(default=None, gt=0)  # default: 80% of the timeout
    window_minutes: Literal[1, 5, 15, 30, 60] = 5
    severity: int = Field(default=2, ge=0, le=4)
    action_group_id: str | None = Field(  # an existing action group, or:
        default=None, pattern=r"^/subscriptions/.+/actionGroups/.+$"
    )
    emails: list[str] = Field(default_factory=list)  # an action group the stack creates
    webhooks: list[str] = Field(default_factory=list)  # https URLs, in that group too

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        return check_emails(v)

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, v: list[str]) -> list[str]:
        return check_webhooks(v)

    @property
    def notifies(self) -> bool:
        """Alerts are made: on, with somebody to tell."""
        has = bool(self.action_group_id or self.emails or self.webhooks)
        return self.enabled is not False and has


class AzureSection(CloudSection):
    subscription_id: str | None = Field(default=None, pattern=_UUID)
    location: str = Field(default="eastus", pattern=r"^[a-z][a-z0-9]{2,30}$")
    resource_group: ResourceGroup = ResourceGroup()
    workspace_name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")
    storage_account_name: str | None = Field(default=None, pattern=r"^[a-z0-9]{3,24}$")
    endpoint_name: str | None = Field(default=None, min_length=3, max_length=32, pattern=_NAME)
    instance_type: str = "Standard_NC24ads_A100_v4"
    instance_count: int = Field(default=1, ge=1, le=MAX_INSTANCES)  # per deployment, no autoscale
    auth_mode: Literal["key", "aadToken"] = "key"
    public_network_access: Access = "Enabled"  # workspace, endpoint, storage, registry, vault
    egress_public_network_access: Access = "Enabled"  # the deployments' outbound traffic
    # With publicNetworkAccess Disabled, where `pulumi up` reaches the storage account (the
    # weights upload) and the registry (the image push) from: an allow-list of the deploying
    # runner's public addresses, or a runner inside the VNet (private endpoints + DNS).
    deployer_ip_ranges: list[str] = Field(default_factory=list)
    deploy_from_private_network: bool = False
    request_timeout_ms: int | None = Field(default=None, ge=1000)
    max_queue: int = Field(default=8, ge=0, le=64)  # GENAI_MAX_QUEUE (waiting requests)
    queue_timeout_s: int = Field(default=30, ge=1, le=120)  # GENAI_QUEUE_TIMEOUT_S
    deployments: list[Deployment] = Field(
        default_factory=lambda: [Deployment(name="blue", traffic=100)]
    )
    workload: Workload = Workload()
    autoscale: Autoscale = Autoscale()
    alarms: Alarms = Alarms()
    identity: Identity = Identity()
    speed: EngineSpeed = EngineSpeed()  # the engine's GENAI_* speed settings

    @field_validator("deployer_ip_ranges")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for r in v:
            try:
                net = ipaddress.ip_network(r, strict=True)
            except ValueError:
                raise ValueError(f"{r!r} is not an IPv4 address or CIDR range") from None
            if net.version != 4 or any(net.overlaps(n) for n in _NOT_PUBLIC):
                raise ValueError(f"{r!r}: allowed: public IPv4 addresses or ranges")
        return v

    @field_validator("deployments")
    @classmethod
    def _some(cls, v: list[Deployment]) -> list[Deployment]:
        if not 1 <= len(v) <= MAX_DEPLOYMENTS:
            raise ValueError(f"allowed: 1 to {MAX_DEPLOYMENTS} deployments (got {len(v)})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> AzureSection:
        """Checks across fields, for a section that is on (a plan is made only of those)."""
        if self.enabled:
            _check_request_timeout(self)
            _check_traffic(self)
            _check_autoscale(self.autoscale)
            _check_identity(self)
            _check_network(self)
            _check_alarms(self.alarms)
        return self


# ------------------------------------------------------------------------- cross-field checks


def _check_request_timeout(az: AzureSection) -> None:
    if az.request_timeout_ms is not None and az.request_timeout_ms > REQUEST_TIMEOUT_MAX_MS:
        raise ConfigError(
            f"{KEY}.requestTimeoutMs={az.request_timeout_ms}: Azure ML managed online endpoints "
            f"allow at most {REQUEST_TIMEOUT_MAX_MS} ms per request; allowed: 1000 to "
            f"{REQUEST_TIMEOUT_MAX_MS} (or leave it unset to size it from the workload)"
        )


def _check_traffic(az: AzureSection) -> None:
    """Unique names; live traffic sums to 100; mirrored traffic within the limit, and only
    to deployments that take no live traffic."""
    names = [d.name for d in az.deployments]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"{KEY}.deployments: name {dupes[0]!r} appears twice; allowed: unique names"
        )
    total = sum(d.traffic for d in az.deployments)
    if total != 100:
        raise ConfigError(
            f"{KEY}.deployments[*].traffic={[d.traffic for d in az.deployments]}: live traffic "
            f"sums to {total}; allowed: a sum of exactly 100"
        )
    mirror = sum(d.mirror_traffic for d in az.deployments)
    if mirror > MIRROR_TRAFFIC_MAX:
        raise ConfigError(
            f"{KEY}.deployments[*].mirrorTraffic={[d.mirror_traffic for d in az.deployments]}: "
            f"mirrored traffic sums to {mirror}; allowed: at most {MIRROR_TRAFFIC_MAX}"
        )
    for i, d in enumerate(az.deployments):
        if d.mirror_traffic and d.traffic:
            raise ConfigError(
                f"{KEY}.deployments[{i}].mirrorTraffic={d.mirror_traffic}: deployment "
                f"{d.name!r} also takes {d.traffic}% live traffic; allowed: mirror only to a "
                "deployment with traffic 0"
            )


def _check_autoscale(a: Autoscale) -> None:
    if not a.enabled:
        return
    if a.min < 1:
        raise ConfigError(
            f"{KEY}.autoscale.min={a.min}: a managed online deployment cannot scale to "
            "zero; allowed: ≥ 1"
        )
    if a.min > a.max:
        raise ConfigError(f"{KEY}.autoscale.min={a.min}: must be ≤ {KEY}.autoscale.max={a.max}")
    if not a.min <= a.initial <= a.max:
        raise ConfigError(
            f"{KEY}.autoscale.default={a.initial}: allowed: between autoscale.min={a.min} "
            f"and autoscale.max={a.max}"
        )
    if not any(r.direction == "Increase" for r in a.rules) or not any(
        r.direction == "Decrease" for r in a.rules
    ):
        raise ConfigError(
            f"{KEY}.autoscale.rules: {[r.direction for r in a.rules]}; allowed: at least one "
            "'Increase' and one 'Decrease' rule (or autoscale.enabled=false)"
        )


def _check_identity(az: AzureSection) -> None:
    """A user-assigned identity id needs that type; an existing group needs its name."""
    if az.identity.user_assigned_id and az.identity.type != "UserAssigned":
        raise ConfigError(
            f"{KEY}.identity.userAssignedId is set but identity.type={az.identity.type!r}; "
            "allowed: type 'UserAssigned' with it, or no userAssignedId"
        )
    if az.resource_group.name is None and not az.resource_group.create:
        raise ConfigError(
            f"{KEY}.resourceGroup.create=False: an existing group needs its name; allowed: "
            f"set {KEY}.resourceGroup.name, or create: true"
        )


def _check_alarms(al: Alarms) -> None:
    if al.enabled and not al.notifies:
        raise ConfigError(
            f"{KEY}.alarms.enabled=True: no destination, every alert would notify nobody; "
            "allowed: alarms.actionGroupId (an action group id), alarms.emails or "
            "alarms.webhooks (the stack creates an action group), or enabled false"
        )


def _check_network(az: AzureSection) -> None:
    """Closed to the public, the deploying runner still reaches storage and registry: from
    allow-listed addresses or from inside the VNet; open, no allow-list is needed."""
    if az.public_network_access == "Disabled":
        if not az.deployer_ip_ranges and not az.deploy_from_private_network:
            raise ConfigError(
                f"{KEY}.publicNetworkAccess='Disabled': `pulumi up` uploads the weights to "
                "the workspace storage account and pushes the image to its registry, which "
                "then refuse every caller outside the VNet; allowed: "
                f"{KEY}.deployerIpRanges [public CIDR, …] (the deploying runner is "
                f"allow-listed on those two), or {KEY}.deployFromPrivateNetwork true (run "
                "`pulumi up` inside the VNet, with private endpoints and DNS for blob and ACR)"
            )
    elif az.deployer_ip_ranges:
        raise ConfigError(
            f"{KEY}.deployerIpRanges={az.deployer_ip_ranges!r}: only used with "
            f"publicNetworkAccess 'Disabled'; allowed: an empty list"
        )


@dataclass(frozen=True)
class DeploymentPlan:
    name: str
    instance: catalog.GpuInstance
    traffic: int
    mirror_traffic: int
    capacity: int  # instances at creation (the autoscale default, else instanceCount)
    min_instances: int
    max_instances: int


@dataclass(frozen=True)
class AzurePlan:
    """The Azure section checked against the manifest and the catalog."""

    settings: AzureSection
    task: str
    manifest: PackageManifest
    weights_dir: Path
    project_dir: Path
    image: ImageSource
    resource_group_name: str
    workspace_name: str
    storage_account_name: str
    registry_name: str
    vault_name: str
    endpoint_name: str
    deployments: tuple[DeploymentPlan, ...]
    timing: Timing
    engine_env: dict[str, str] = field(default_factory=dict)  # the stack's engine section

    @property
    def max_concurrent_requests(self) -> int:
        return self.settings.max_queue + 1  # the engine's waiting queue + the one generating

    @property
    def cost_min(self) -> float:
        return round(
            sum(catalog.hourly_cost(d.instance, d.min_instances) for d in self.deployments), 4
        )

    @property
    def cost_max(self) -> float:
        return round(
            sum(catalog.hourly_cost(d.instance, d.max_instances) for d in self.deployments), 4
        )


# ------------------------------------------------------------------------- plan


def plan(
    settings: StackSettings, stack: str, project_dir: Path, package_dir: Path | None
) -> AzurePlan:
    """The section (its own checks passed when it was read) against catalog and manifest."""
    az: AzureSection = settings.azure
    task = settings.task
    default_instance = _gpu("instanceType", az.instance_type)
    manifest, weights_dir = stack_package(settings, project_dir, package_dir, CLOUD)
    engine = engine_env(settings.engine, manifest)
    image = image_source(settings.runtime, "azure", manifest, project_dir)
    deployments = _deployments(az, default_instance, manifest.model.size_bytes)
    slowest = max((d.instance for d in deployments), key=lambda i: step_seconds(i, az.workload))
    timing = request_timing(
        task,
        az.workload,
        az.queue_timeout_s,
        az.request_timeout_ms,
        slowest,
        manifest.model.size_bytes,
    )

    base = _slug(stack)
    rg = az.resource_group.name or f"genai-{base}"
    workspace = az.workspace_name or f"genai-{base}"[:33]
    suffix = hashlib.sha256(f"{rg}/{workspace}".encode()).hexdigest()[:8]
    storage = az.storage_account_name or (re.sub(r"[^a-z0-9]", "", f"genai{base}")[:16] + suffix)
    registry = re.sub(r"[^a-zA-Z0-9]", "", f"genai{base}")[:42] + suffix
    vault = (f"genai-{base}"[:15].rstrip("-") + f"-{suffix}")[:24]
    return AzurePlan(
        settings=az,
        task=task,
        manifest=manifest,
        weights_dir=weights_dir,
        project_dir=project_dir,
        image=image,
        resource_group_name=rg,
        workspace_name=workspace,
        storage_account_name=storage,
        registry_name=registry,
        vault_name=vault,
        endpoint_name=az.endpoint_name or endpoint_name_for(stack, manifest.model.id),
        deployments=tuple(deployments),
        timing=timing,
        engine_env=engine,
    )


def _gpu(field: str, name: str) -> catalog.GpuInstance:
    try:
        return catalog.gpu_instance(CLOUD, name)
    except catalog.CatalogError as exc:
        raise ConfigError(f"{KEY}.{field}={name!r}: {exc}") from None


def _deployments(
    az: AzureSection, default_instance: catalog.GpuInstance, size_bytes: int
) -> list[DeploymentPlan]:
    """Each deployment on its instance type (the model must fit its GPU), with the
    instances it starts with and may scale between."""
    a = az.autoscale
    deployments = []
    for i, d in enumerate(az.deployments):
        field = f"deployments[{i}].instanceType" if d.instance_type else "instanceType"
        inst = _gpu(field, d.instance_type) if d.instance_type else default_instance
        try:
            catalog.check_fits(inst, size_bytes)
        except catalog.CatalogError as exc:
            raise ConfigError(f"{KEY}.{field}={inst.name!r}: {exc}") from None
        count = d.instance_count or az.instance_count
        deployments.append(
            DeploymentPlan(
                name=d.name,
                instance=inst,
                traffic=d.traffic,
                mirror_traffic=d.mirror_traffic,
                capacity=a.initial if a.enabled else count,
                min_instances=a.min if a.enabled else count,
                max_instances=a.max if a.enabled else count,
            )
        )
    return deployments


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-") or "stack"


def endpoint_name_for(stack: str, model_id: str) -> str:
    """``genai-<stack>-<model>``: 3-32 characters, a letter first (Azure's rule)."""
    tail = _slug(model_id.split("/")[-1])
    name = re.sub(r"-+", "-", f"genai-{_slug(stack)}-{tail}")[:32].strip("-")
    return name if len(name) >= 3 else "genai-endpoint"
