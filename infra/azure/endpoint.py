"""One Azure ML managed online endpoint with its workspace, assets, deployments and monitors.

Weights are *referenced*: ``genai-endpoints upload --to azureml://…/datastores/genai_packages``
puts them under ``<weights.key_prefix>`` of the stack's ``genai-packages`` blob container
(registered as the identity-based datastore ``genai_packages``), and the model version points
at that folder. The small code folder (``score.py``, ``scoring/``, ``genai_package.json``) is
uploaded by Pulumi as one blob per file to ``code/<code digest>/`` — the keys ``upload``
also writes — and the code version points at that folder: Pulumi uploads exactly the bytes
it verified against the manifest, a code-only change needs no re-upload, and the new digest
is a new code version and a new deployment revision. The environment version is the
manifest's pinned base image plus the package's ``environment/conda.yaml``, versioned by the
hash of both.

Order: workspace → assets → endpoint (no traffic) → role assignments → deployments →
traffic (``EndpointTraffic``, ``depends_on`` every deployment) → autoscale and alerts.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.applicationinsights as appinsights
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.containerregistry as containerregistry
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources
import pulumi_azure_native.storage as storage

from infra.azure.config import CODE_CONTAINER, CODE_DATASTORE, AzurePlan, DeploymentPlan
from infra.azure.traffic import EndpointTraffic

TYPE_TOKEN = "genai-endpoints:azure:AzureMlEndpoint"
SCORING_SCRIPT = "score.py"
ENDPOINT_METRICS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
PROBE_PERIOD_S = 10
# Built-in role definition ids (the same in every subscription).
ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
}
AUTH_MODES = {"key": "Key", "aadToken": "AADToken"}
_NS = uuid.UUID("6f1c3c1e-8a39-4f3e-9a55-0c1f4e2f9b10")


@dataclass(frozen=True)
class AzureMlEndpointArgs:
    plan: AzurePlan
    tags: dict[str, str]
    stack: str


def iso_seconds(seconds: int) -> str:
    return f"PT{int(seconds)}S"


def probes(plan: AzurePlan) -> tuple[ml.ProbeSettingsArgs, ml.ProbeSettingsArgs]:
    """Readiness tolerates the model load; liveness starts after it and tolerates one full
    request: the inference server may answer a probe only after a running generation."""
    t = plan.timing
    readiness = ml.ProbeSettingsArgs(
        initial_delay=iso_seconds(10),
        period=iso_seconds(PROBE_PERIOD_S),
        timeout=iso_seconds(PROBE_PERIOD_S),
        failure_threshold=-(-t.load_s // PROBE_PERIOD_S) + 3,
        success_threshold=1,
    )
    liveness = ml.ProbeSettingsArgs(
        initial_delay=iso_seconds(t.load_s),
        period=iso_seconds(PROBE_PERIOD_S),
        timeout=iso_seconds(PROBE_PERIOD_S),
        failure_threshold=-(-(t.request_timeout_ms // 1000 + 30) // PROBE_PERIOD_S),
        success_threshold=1,
    )
    return readiness, liveness


def environment_variables(plan: AzurePlan) -> dict[str, str]:
    m, t, w = plan.manifest, plan.timing, plan.settings.workload
    env = dict(m.serving.env)
    env.update(
        {
            "GENAI_MODEL_ID": m.model.id,
            "GENAI_MODEL_REVISION": m.model.revision,
            "GENAI_MODEL_DIGEST": m.model.digest,
            "GENAI_CODE_DIGEST": m.code.digest,
            "GENAI_MAX_QUEUE": str(plan.settings.max_queue),
            "GENAI_QUEUE_TIMEOUT_S": str(t.queue_s),
            "GENAI_REQUEST_TIMEOUT_S": str(t.generation_s),
            "GENAI_MAX_STEPS": str(w.max_steps),
            "GENAI_MAX_OUTPUTS": str(w.max_outputs),
            "GENAI_MAX_INSTANCES": str(w.max_batch),
            "GENAI_MAX_FRAMES": str(w.max_frames),
        }
    )
    limit = m.limit("managed")
    if limit is not None:
        env["GENAI_MAX_REQUEST_BYTES"] = str(limit.max_request_bytes)
    return env


def _asset_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-")[:200] or "model"


class AzureMlEndpoint(pulumi.ComponentResource):
    """Workspace (storage, vault, insights, registry), assets, endpoint, deployments, monitors."""

    endpoint_name: pulumi.Output[str]
    scoring_uri: pulumi.Output[str]
    datastore_uri: pulumi.Output[str]

    def __init__(
        self, name: str, args: AzureMlEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        plan = args.plan
        cfg = plan.settings
        manifest = plan.manifest
        tags = dict(args.tags)
        location = cfg.location
        access = cfg.public_network_access
        rg_name = plan.resource_group_name
        ws_name = plan.workspace_name

        def child(**kw) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, **kw)

        client = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        )
        subscription = (
            pulumi.Output.from_input(cfg.subscription_id)
            if cfg.subscription_id
            else client.subscription_id.apply(_known("subscription"))
        )
        tenant = client.tenant_id.apply(_known("tenant"))

        # ---------------------------------------------------------------- resource group
        group_deps: list[pulumi.Resource] = []
        if cfg.resource_group.create:
            group = resources.ResourceGroup(
                f"{name}-rg",
                resource_group_name=rg_name,
                location=location,
                tags=tags,
                opts=child(),
            )
            group_deps.append(group)

        def in_group(**kw) -> pulumi.ResourceOptions:
            deps = list(kw.pop("depends_on", [])) + group_deps
            return child(depends_on=deps, **kw)

        # ---------------------------------------------------------------- workspace and its needs
        account = storage.StorageAccount(
            f"{name}-storage",
            account_name=plan.storage_account_name,
            resource_group_name=rg_name,
            location=location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_LRS"),
            allow_blob_public_access=False,
            enable_https_traffic_only=True,
            minimum_tls_version="TLS1_2",
            public_network_access=access,
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Storage",
                services=storage.EncryptionServicesArgs(
                    blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                    file=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                ),
            ),
            tags=tags,
            opts=in_group(),
        )
        container = storage.BlobContainer(
            f"{name}-packages",
            account_name=plan.storage_account_name,
            resource_group_name=rg_name,
            container_name=CODE_CONTAINER,
            public_access="None",
            opts=child(depends_on=[account]),
        )
        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=plan.vault_name,
            resource_group_name=rg_name,
            location=location,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=tenant,
                sku=keyvault.SkuArgs(family="A", name="standard"),
                enable_rbac_authorization=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                enable_purge_protection=access == "Disabled" or None,
                public_network_access=access,
            ),
            tags=tags,
            opts=in_group(),
        )
        logs = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=f"{ws_name}-logs",
            resource_group_name=rg_name,
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=30,
            tags=tags,
            opts=in_group(),
        )
        insights = appinsights.Component(
            f"{name}-insights",
            resource_name_=f"{ws_name}-insights",
            resource_group_name=rg_name,
            location=location,
            kind="web",
            application_type="web",
            ingestion_mode="LogAnalytics",
            workspace_resource_id=logs.id,
            tags=tags,
            opts=in_group(),
        )
        registry = containerregistry.Registry(
            f"{name}-registry",
            registry_name=plan.registry_name,
            resource_group_name=rg_name,
            location=location,
            # private link (public access off) needs Premium
            sku=containerregistry.SkuArgs(name="Premium" if access == "Disabled" else "Standard"),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=access,
            tags=tags,
            opts=in_group(),
        )
        workspace = ml.Workspace(
            f"{name}-workspace",
            workspace_name=ws_name,
            resource_group_name=rg_name,
            location=location,
            friendly_name=ws_name,
            description=f"genai-endpoints {args.stack}",
            identity=ml.ManagedServiceIdentityArgs(type="SystemAssigned"),
            storage_account=account.id,
            key_vault=vault.id,
            application_insights=insights.id,
            container_registry=registry.id,
            public_network_access=access,
            v1_legacy_mode=False,
            sku=ml.SkuArgs(name="Basic", tier="Basic"),
            tags=tags,
            opts=in_group(),
        )
        in_ws = dict(resource_group_name=rg_name, workspace_name=ws_name)
        datastore = ml.Datastore(
            f"{name}-datastore",
            name=CODE_DATASTORE,
            properties=ml.AzureBlobDatastoreArgs(
                datastore_type="AzureBlob",
                credentials=ml.NoneDatastoreCredentialsArgs(credentials_type="None"),
                account_name=plan.storage_account_name,
                container_name=CODE_CONTAINER,
                service_data_access_auth_identity="WorkspaceSystemAssignedIdentity",
                description="genai-endpoints packages: weights (upload) and code (Pulumi)",
                tags=tags,
            ),
            opts=child(depends_on=[workspace, container]),
            **in_ws,
        )
        datastore_uri = subscription.apply(
            lambda s: (
                f"azureml://subscriptions/{s}/resourcegroups/{rg_name}/workspaces/"
                f"{ws_name}/datastores/{CODE_DATASTORE}"
            )
        )
        self.datastore_uri = datastore_uri
        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        self.scoring_uri = pulumi.Output.from_input(
            f"https://{plan.endpoint_name}.{location}.inference.ml.azure.com/score"
        )
        outputs: dict[str, pulumi.Input] = {
            "workspace": ws_name,
            "datastore_uri": datastore_uri,
            "weights_prefix": manifest.weights.key_prefix,
        }
        if not cfg.deploy_endpoint:
            self.register_outputs(outputs)
            return

        # ---------------------------------------------------------------- code blobs
        code_prefix = f"code/{manifest.code.digest}"
        blobs = []
        for entry in manifest.code.files:
            safe = re.sub(r"[^A-Za-z0-9]+", "-", entry.path).strip("-")
            blobs.append(
                storage.Blob(
                    f"{name}-code-{safe}",
                    account_name=plan.storage_account_name,
                    container_name=CODE_CONTAINER,
                    resource_group_name=rg_name,
                    blob_name=f"{code_prefix}/{entry.path}",
                    source=pulumi.FileAsset(str(plan.code_dir / entry.path)),
                    type="Block",
                    metadata={"sha256": entry.sha256, "code_digest": manifest.code.digest},
                    opts=child(depends_on=[container]),
                )
            )

        # ---------------------------------------------------------------- assets (immutable)
        keep = dict(retain_on_delete=True)  # versions are content-addressed and shared
        asset_tags = {**tags, "model-digest": manifest.model.digest[:16]}
        code = ml.CodeVersion(
            f"{name}-code",
            name="genai-score",
            version=manifest.code.digest[:16],
            properties=ml.CodeVersionPropertiesArgs(
                code_uri=f"https://{plan.storage_account_name}.blob.core.windows.net/"
                f"{CODE_CONTAINER}/{code_prefix}",
                description=f"score.py + scoring engine {manifest.engine_version}",
                is_anonymous=False,
                properties={"code_digest": manifest.code.digest},
                tags=asset_tags,
            ),
            opts=child(depends_on=[datastore, *blobs], **keep),
            **in_ws,
        )
        model = ml.ModelVersion(
            f"{name}-model",
            name=_asset_name(manifest.model.id),
            version=manifest.model.digest[:16],
            properties=ml.ModelVersionPropertiesArgs(
                model_uri=datastore_uri.apply(lambda u: f"{u}/paths/{manifest.weights.key_prefix}"),
                model_type="custom_model",
                description=f"{manifest.model.id}@{manifest.model.revision}",
                properties={
                    "model_digest": manifest.model.digest,
                    "revision": manifest.model.revision,
                },
                tags=asset_tags,
            ),
            opts=child(depends_on=[datastore], **keep),
            **in_ws,
        )
        environment = ml.EnvironmentVersion(
            f"{name}-environment",
            name="genai-diffusers",
            version=plan.env_version,
            properties=ml.EnvironmentVersionPropertiesArgs(
                image=manifest.serving.image,
                conda_file=plan.conda_file,
                os_type="Linux",
                description=f"pinned base image + conda spec, engine {manifest.engine_version}",
                tags=tags,
            ),
            opts=child(depends_on=[workspace], **keep),
            **in_ws,
        )

        # ---------------------------------------------------------------- identity + endpoint
        uai = None
        ident = cfg.identity
        if ident.type == "UserAssigned":
            if ident.user_assigned_id:
                uai_id: pulumi.Input[str] = ident.user_assigned_id
                parts = ident.user_assigned_id.split("/")
                principal = managedidentity.get_user_assigned_identity_output(
                    resource_group_name=parts[4],
                    resource_name=parts[-1],
                    opts=pulumi.InvokeOutputOptions(parent=self),
                ).principal_id
            else:
                uai = managedidentity.UserAssignedIdentity(
                    f"{name}-identity",
                    resource_name_=f"{plan.endpoint_name}-id",
                    resource_group_name=rg_name,
                    location=location,
                    tags=tags,
                    opts=in_group(),
                )
                uai_id, principal = uai.id, uai.principal_id
            identity = ml.ManagedServiceIdentityArgs(
                type="UserAssigned", user_assigned_identities=[uai_id]
            )
        else:
            identity = ml.ManagedServiceIdentityArgs(type="SystemAssigned")
        endpoint_props = ml.OnlineEndpointPropertiesArgs(
            auth_mode=AUTH_MODES[cfg.auth_mode],
            public_network_access=access,
            description=f"{manifest.model.id} ({plan.task}), genai-endpoints {args.stack}",
        )
        endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=plan.endpoint_name,
            location=location,
            identity=identity,
            properties=endpoint_props,
            tags=tags,
            # traffic is written by EndpointTraffic once the deployments exist
            opts=child(
                depends_on=[workspace, *([uai] if uai else [])],
                ignore_changes=["properties.traffic", "properties.mirrorTraffic"],
            ),
            **in_ws,
        )
        if ident.type == "SystemAssigned":
            principal = endpoint.identity.apply(lambda i: i.principal_id if i else None)

        # ---------------------------------------------------------------- least privilege
        grants = [
            ("acr-pull", "AcrPull", registry.id),  # pull the environment image
            ("packages-read", "Storage Blob Data Reader", container.id),  # weights + code only
            ("metrics", "AzureML Metrics Writer (preview)", workspace.id),  # deployment metrics
        ]
        self.role_assignments = []
        for short, role, scope in grants:
            self.role_assignments.append(
                authorization.RoleAssignment(
                    f"{name}-{short}",
                    role_assignment_name=str(
                        uuid.uuid5(_NS, f"{rg_name}/{ws_name}/{plan.endpoint_name}/{short}")
                    ),
                    principal_id=principal,
                    principal_type="ServicePrincipal",
                    role_definition_id=subscription.apply(
                        lambda s, r=role: (
                            f"/subscriptions/{s}/providers/"
                            f"Microsoft.Authorization/roleDefinitions/{ROLES[r]}"
                        )
                    ),
                    scope=scope,
                    description=f"{plan.endpoint_name}: {role}",
                    opts=child(depends_on=[endpoint]),
                )
            )

        # ---------------------------------------------------------------- deployments
        readiness, liveness = probes(plan)
        env_vars = environment_variables(plan)
        self.deployments: dict[str, ml.OnlineDeployment] = {}
        for d in plan.deployments:
            self.deployments[d.name] = ml.OnlineDeployment(
                f"{name}-deployment-{d.name}",
                endpoint_name=plan.endpoint_name,
                deployment_name=d.name,
                location=location,
                sku=ml.SkuArgs(name="Default", capacity=d.capacity),
                properties=ml.ManagedOnlineDeploymentArgs(
                    endpoint_compute_type="Managed",
                    instance_type=d.instance.name,
                    model=model.id,
                    code_configuration=ml.CodeConfigurationArgs(
                        code_id=code.id, scoring_script=SCORING_SCRIPT
                    ),
                    environment_id=environment.id,
                    environment_variables=env_vars,
                    request_settings=ml.OnlineRequestSettingsArgs(
                        request_timeout=f"PT{plan.timing.request_timeout_ms / 1000:g}S",
                        max_concurrent_requests_per_instance=plan.max_concurrent_requests,
                    ),
                    readiness_probe=readiness,
                    liveness_probe=liveness,
                    app_insights_enabled=True,
                    egress_public_network_access=cfg.egress_public_network_access,
                    scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
                    description=f"{d.name}: {d.instance.name}, {manifest.model.id}",
                ),
                tags=tags,
                opts=child(depends_on=[endpoint, *self.role_assignments]),
                **in_ws,
            )
        deployments = list(self.deployments.values())

        # ---------------------------------------------------------------- traffic, after all
        traffic = {d.name: d.traffic for d in plan.deployments}
        mirror = {d.name: d.mirror_traffic for d in plan.deployments if d.mirror_traffic}
        revision = hashlib.sha256(
            json.dumps(
                {
                    "auth": cfg.auth_mode,
                    "access": access,
                    "identity": ident.model_dump(),
                    "tags": tags,
                    "deployments": [d.name for d in plan.deployments],
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]
        self.traffic = EndpointTraffic(
            f"{name}-traffic",
            endpoint_id=endpoint.id,
            traffic=traffic,
            mirror_traffic=mirror,
            revision=revision,
            opts=child(depends_on=[endpoint, *deployments]),
        )

        # ---------------------------------------------------------------- autoscale + alerts
        if cfg.autoscale.enabled:
            for d in plan.deployments:
                self._autoscale(name, plan, d, self.deployments[d.name], endpoint, tags, child)
        if cfg.alarms.enabled:
            self._alerts(name, plan, endpoint, tags, child, deployments)

        outputs.update(
            {
                "endpoint_name": plan.endpoint_name,
                "scoring_uri": self.scoring_uri,
                "endpoint_id": endpoint.id,
                "traffic": traffic,
            }
        )
        self.register_outputs(outputs)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _autoscale(name, plan: AzurePlan, d: DeploymentPlan, deployment, endpoint, tags, child):
        a = plan.settings.autoscale
        rules = []
        for r in a.rules:
            on_endpoint = r.source == "endpoint"
            rules.append(
                monitor.ScaleRuleArgs(
                    metric_trigger=monitor.MetricTriggerArgs(
                        metric_name=r.metric,
                        metric_namespace=ENDPOINT_METRICS if on_endpoint else None,
                        metric_resource_uri=endpoint.id if on_endpoint else deployment.id,
                        dimensions=[
                            monitor.ScaleRuleMetricDimensionArgs(
                                dimension_name="deployment", operator="Equals", values=[d.name]
                            )
                        ]
                        if on_endpoint
                        else None,
                        operator=r.operator,
                        statistic=r.statistic,
                        threshold=r.threshold,
                        time_aggregation=r.time_aggregation,
                        time_grain="PT1M",
                        time_window=f"PT{r.window_minutes}M",
                    ),
                    scale_action=monitor.ScaleActionArgs(
                        direction=r.direction,
                        type="ChangeCount",
                        value=str(r.change),
                        cooldown=f"PT{r.cooldown_minutes}M",
                    ),
                )
            )
        monitor.AutoscaleSetting(
            f"{name}-autoscale-{d.name}",
            autoscale_setting_name=f"{plan.endpoint_name}-{d.name}-autoscale",
            resource_group_name=plan.resource_group_name,
            location=plan.settings.location,
            enabled=True,
            target_resource_uri=deployment.id,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="default",
                    capacity=monitor.ScaleCapacityArgs(
                        minimum=str(d.min_instances),
                        maximum=str(d.max_instances),
                        default=str(d.capacity),
                    ),
                    rules=rules,
                )
            ],
            tags=tags,
            opts=child(depends_on=[deployment]),
        )

    @staticmethod
    def _alerts(name, plan: AzurePlan, endpoint, tags, child, deployments):
        al = plan.settings.alarms
        latency_ms = al.latency_p90_ms or int(plan.timing.request_timeout_ms * 0.8)
        actions = (
            [monitor.MetricAlertActionArgs(action_group_id=al.action_group_id)]
            if al.action_group_id
            else None
        )
        common = dict(
            resource_group_name=plan.resource_group_name,
            location="global",
            enabled=True,
            severity=al.severity,
            evaluation_frequency="PT1M",
            window_size=f"PT{al.window_minutes}M",
            scopes=[endpoint.id],
            auto_mitigate=True,
            actions=actions,
            tags=tags,
        )

        def criteria(metric: str, threshold: float, dims=None):
            return monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name=metric,
                        metric_name=metric,
                        metric_namespace=ENDPOINT_METRICS,
                        operator="GreaterThan",
                        threshold=threshold,
                        time_aggregation="Average",
                        dimensions=dims,
                    )
                ],
            )

        ep = plan.endpoint_name
        monitor.MetricAlert(
            f"{name}-5xx",
            rule_name=f"{ep}-5xx",
            description=f"{ep}: requests answered 5xx per minute",
            criteria=criteria(
                "RequestsPerMinute",
                al.error5xx_per_minute,
                [
                    monitor.MetricDimensionArgs(
                        name="statusCodeClass", operator="Include", values=["5xx"]
                    )
                ],
            ),
            opts=child(depends_on=deployments),
            **common,
        )
        monitor.MetricAlert(
            f"{name}-latency",
            rule_name=f"{ep}-latency-p90",
            description=f"{ep}: p90 request latency (ms)",
            criteria=criteria("RequestLatency_P90", float(latency_ms)),
            opts=child(depends_on=deployments),
            **common,
        )


def _known(what: str):
    """An id the provider always returns; a preview under mocks has none: a placeholder."""

    def pick(value):
        if value:
            return value
        if pulumi.runtime.is_dry_run():
            return f"<{what}>"
        raise RuntimeError(f"the azure-native provider returned no {what} id")

    return pick
