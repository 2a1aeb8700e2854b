"""One Azure ML managed online endpoint with its workspace, registry, image and monitors.

One ``pulumi up`` from nothing to a serving endpoint: resource group, storage account (with
the private ``genai-packages`` container, registered as the identity-based datastore
``genai_packages``), key vault, Log Analytics + Application Insights, container registry and
workspace; then, in parallel, the weights uploaded to ``<weights.key_prefix>`` of that
container (:mod:`infra.weights`, content-addressed) and the runtime image built and pushed by
digest to the workspace registry (:mod:`infra.runtime`, credentials from
:mod:`infra.azure.registry`); then the model version (that folder: Azure mounts it under
``AZUREML_MODEL_DIR``), the environment version (the image as ``repo@sha256:…`` with its
``inferenceConfig``: liveness ``/``, readiness ``/ready``, scoring ``/score`` on port 5001 —
a custom container, no scoring script, no conda), the endpoint (no traffic), the
deployments, the traffic step (``EndpointTraffic``, after every deployment), autoscale and
alerts.

Identity: a *system-assigned* endpoint identity is granted AcrPull, Storage Blob Data Reader
and AzureML Metrics Writer by Azure ML itself when the endpoint is created — creating the same
assignments again fails with ``RoleAssignmentExists`` — so the stack creates them only for a
*user-assigned* identity, scoped to the registry, the packages container and the workspace.

Private networking (``publicNetworkAccess: Disabled``): the workspace, endpoint and vault are
closed; the storage account and the registry accept only the deploying runner's addresses
(``deployerIpRanges``, Premium ACR network rules) or, with ``deployFromPrivateNetwork``,
nobody outside the VNet (``pulumi up`` then runs inside it, with private endpoints and DNS for
blob and ACR, which the team's network stack provides).
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

from infra.azure.config import (
    PACKAGES_CONTAINER,
    PACKAGES_DATASTORE,
    AzurePlan,
    DeploymentPlan,
)
from infra.azure.registry import ACR_TOKEN_USER, exchange_token
from infra.azure.traffic import EndpointTraffic
from infra.runtime import IMAGE_NAME, pushed_image
from infra.serving import container_env
from infra.weights import WeightsUpload

TYPE_TOKEN = "genai-endpoints:azure:AzureMlEndpoint"
ENDPOINT_METRICS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
PROBE_PERIOD_S = 10
# Built-in role definition ids (the same in every subscription).
ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "AzureML Metrics Writer (preview)": "635dd51f-9968-44d3-b7fb-6d9a6bd613ae",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
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
    request (the server answers liveness while a generation runs, but a slow node may not)."""
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


def inference_config(plan: AzurePlan) -> ml.InferenceContainerPropertiesArgs:
    """The custom container's routes (docs/architecture.md, azureml)."""
    rt = plan.manifest.runtime
    return ml.InferenceContainerPropertiesArgs(
        liveness_route=ml.RouteArgs(path=rt.health_route, port=rt.port),
        readiness_route=ml.RouteArgs(path=rt.readiness_route, port=rt.port),
        scoring_route=ml.RouteArgs(path=rt.predict_route, port=rt.port),
    )


def environment_variables(plan: AzurePlan) -> dict[str, str]:
    m, t, w = plan.manifest, plan.timing, plan.settings.workload
    limit = m.limit("managed")
    env = container_env(
        m,
        "azureml",
        task=plan.task,
        timeout_s=t.request_timeout_ms // 1000,
        max_request_bytes=limit.max_request_bytes if limit else None,
        speed=plan.settings.speed,
        engine=plan.engine_env,
    )
    env.update(
        {
            "GENAI_MAX_QUEUE": str(plan.settings.max_queue),
            "GENAI_QUEUE_TIMEOUT_S": str(t.queue_s),
            "GENAI_REQUEST_TIMEOUT_S": str(t.generation_s),
            "GENAI_MAX_STEPS": str(w.max_steps),
            "GENAI_MAX_OUTPUTS": str(w.max_outputs),
            "GENAI_MAX_INSTANCES": str(w.max_batch),
            "GENAI_MAX_FRAMES": str(w.max_frames),
        }
    )
    return env


def nonzero(weights: dict[str, int]) -> dict[str, int]:
    """A traffic map as Azure's own tools send it: deployments at 0 % left out."""
    return {k: int(v) for k, v in weights.items() if int(v) > 0}


def _asset_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", text).strip("-")[:200] or "model"


def _role_id(subscription: pulumi.Output[str], role: str) -> pulumi.Output[str]:
    return subscription.apply(
        lambda s: (
            f"/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}"
        )
    )


class AzureMlEndpoint(pulumi.ComponentResource):
    """Workspace and its needs, image, weights, assets, endpoint, deployments, monitors."""

    endpoint_name: pulumi.Output[str]
    scoring_uri: pulumi.Output[str]
    datastore_uri: pulumi.Output[str]
    subscription_id: pulumi.Output[str]
    image: pulumi.Output[str]

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
        allow_list = list(cfg.deployer_ip_ranges)
        # storage and registry: closed, or open to the deploying runner's addresses only
        data_access = "Enabled" if allow_list else access
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
        self.subscription_id = subscription
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
            public_network_access=data_access,
            network_rule_set=(
                storage.NetworkRuleSetArgs(
                    default_action="Deny",
                    bypass="AzureServices",
                    ip_rules=[
                        storage.IPRuleArgs(i_p_address_or_range=r.removesuffix("/32"))
                        for r in allow_list
                    ],
                )
                if allow_list
                else None
            ),
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
            container_name=PACKAGES_CONTAINER,
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
            # private link and network rules need Premium
            sku=containerregistry.SkuArgs(name="Premium" if access == "Disabled" else "Standard"),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=data_access,
            network_rule_set=(
                containerregistry.NetworkRuleSetArgs(
                    default_action="Deny",
                    ip_rules=[
                        containerregistry.IPRuleArgs(i_p_address_or_range=r, action="Allow")
                        for r in allow_list
                    ],
                )
                if allow_list
                else None
            ),
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
            name=PACKAGES_DATASTORE,
            properties=ml.AzureBlobDatastoreArgs(
                datastore_type="AzureBlob",
                credentials=ml.NoneDatastoreCredentialsArgs(credentials_type="None"),
                account_name=plan.storage_account_name,
                container_name=PACKAGES_CONTAINER,
                service_data_access_auth_identity="WorkspaceSystemAssignedIdentity",
                description="genai-endpoints packages: weights, content-addressed",
                tags=tags,
            ),
            opts=child(depends_on=[workspace, container]),
            **in_ws,
        )
        datastore_uri = subscription.apply(
            lambda s: (
                f"azureml://subscriptions/{s}/resourcegroups/{rg_name}/workspaces/"
                f"{ws_name}/datastores/{PACKAGES_DATASTORE}"
            )
        )
        self.datastore_uri = datastore_uri

        # ---------------------------------------------------------------- weights
        # the deploying identity writes the weights (a data-plane role; RBAC takes minutes to
        # reach the blob service, which the upload step waits out)
        deployer_writes = authorization.RoleAssignment(
            f"{name}-deployer-writes-packages",
            role_assignment_name=str(uuid.uuid5(_NS, f"{rg_name}/{ws_name}/deployer/packages")),
            principal_id=client.object_id,
            role_definition_id=_role_id(subscription, "Storage Blob Data Contributor"),
            scope=container.id,
            description=f"{plan.endpoint_name}: `pulumi up` uploads the weights",
            opts=child(depends_on=[container]),
        )
        prefix = manifest.weights.key_prefix
        account_url = f"https://{plan.storage_account_name}.blob.core.windows.net"
        weights = WeightsUpload(
            f"{name}-weights",
            store={
                "kind": "azureblob",
                "account_url": account_url,
                "container": PACKAGES_CONTAINER,
            },
            uri=f"{account_url}/{PACKAGES_CONTAINER}/{prefix}",
            manifest=manifest,
            folder=str(plan.weights_dir.resolve()),
            project_dir=str(plan.project_dir.resolve()),
            opts=child(depends_on=[container, deployer_writes]),
        )

        # ---------------------------------------------------------------- runtime image
        if plan.image.built:
            import pulumi_docker_build as docker_build

            aad = authorization.get_client_token_output(
                opts=pulumi.InvokeOutputOptions(parent=self)
            )
            password = pulumi.Output.all(registry.login_server, tenant, aad.token).apply(
                lambda v: "" if pulumi.runtime.is_dry_run() else exchange_token(*v)
            )
            image = pushed_image(
                f"{name}-image",
                plan.image,
                registry.login_server.apply(lambda s: f"{s}/{IMAGE_NAME}"),
                docker_build.RegistryArgs(
                    address=registry.login_server,
                    username=ACR_TOKEN_USER,
                    password=pulumi.Output.secret(password),
                ),
                {"genai-endpoints.engine-version": manifest.engine_version},
                child(depends_on=[registry]),
            )
        else:
            image = pulumi.Output.from_input(plan.image.pinned)
        self.image = image

        # ---------------------------------------------------------------- assets (immutable)
        keep = dict(retain_on_delete=True)  # versions are content-addressed and shared
        asset_tags = {**tags, "weights-digest": manifest.weights.digest[:16]}
        model = ml.ModelVersion(
            f"{name}-model",
            name=_asset_name(manifest.model.id),
            version=manifest.weights.digest[:16],
            properties=ml.ModelVersionPropertiesArgs(
                model_uri=datastore_uri.apply(lambda u: f"{u}/paths/{prefix}"),
                model_type="custom_model",
                description=f"{manifest.model.id}@{manifest.model.revision}",
                properties={
                    "weights_digest": manifest.weights.digest,
                    "revision": manifest.model.revision,
                },
                tags=asset_tags,
            ),
            opts=child(depends_on=[datastore, weights], **keep),
            **in_ws,
        )
        environment = ml.EnvironmentVersion(
            f"{name}-environment",
            name="genai-runtime",
            version=image.apply(lambda ref: ref.rsplit("sha256:", 1)[-1][:16]),
            properties=ml.EnvironmentVersionPropertiesArgs(
                image=image,
                inference_config=inference_config(plan),
                os_type="Linux",
                description=f"the genai-endpoints runtime image, engine {manifest.engine_version}",
                tags=tags,
            ),
            opts=child(depends_on=[workspace], **keep),
            **in_ws,
        )

        # ---------------------------------------------------------------- identity + endpoint
        uai = None
        ident = cfg.identity
        principal: pulumi.Input[str] | None = None
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
        endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=plan.endpoint_name,
            location=location,
            identity=identity,
            properties=ml.OnlineEndpointPropertiesArgs(
                auth_mode=AUTH_MODES[cfg.auth_mode],
                public_network_access=access,
                description=f"{manifest.model.id} ({plan.task}), genai-endpoints {args.stack}",
            ),
            tags=tags,
            # traffic is written by EndpointTraffic once the deployments exist
            opts=child(
                depends_on=[workspace, *([uai] if uai else [])],
                ignore_changes=["properties.traffic", "properties.mirrorTraffic"],
            ),
            **in_ws,
        )

        # ---------------------------------------------------------------- least privilege
        # A system-assigned identity gets these from Azure ML itself (a second assignment
        # fails with RoleAssignmentExists): only a user-assigned one is granted here.
        self.role_assignments: list[authorization.RoleAssignment] = []
        if principal is not None:
            grants = [
                ("acr-pull", "AcrPull", registry.id),  # pull the runtime image
                ("packages-read", "Storage Blob Data Reader", container.id),  # the weights
                ("metrics", "AzureML Metrics Writer (preview)", workspace.id),
            ]
            for short, role, scope in grants:
                self.role_assignments.append(
                    authorization.RoleAssignment(
                        f"{name}-{short}",
                        role_assignment_name=str(
                            uuid.uuid5(_NS, f"{rg_name}/{ws_name}/{plan.endpoint_name}/{short}")
                        ),
                        principal_id=principal,
                        principal_type="ServicePrincipal",
                        role_definition_id=_role_id(subscription, role),
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
        traffic = nonzero({d.name: d.traffic for d in plan.deployments})
        mirror = nonzero({d.name: d.mirror_traffic for d in plan.deployments})
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

        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        self.scoring_uri = pulumi.Output.from_input(
            f"https://{plan.endpoint_name}.{location}.inference.ml.azure.com/score"
        )
        self.register_outputs(
            {
                "workspace": ws_name,
                "datastore_uri": datastore_uri,
                "weights_prefix": prefix,
                "image": image,
                "endpoint_name": plan.endpoint_name,
                "scoring_uri": self.scoring_uri,
                "endpoint_id": endpoint.id,
                "traffic": traffic,
            }
        )

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
        groups: list[pulumi.Input[str]] = [al.action_group_id] if al.action_group_id else []
        if al.emails:
            group = monitor.ActionGroup(
                f"{name}-notify",
                action_group_name=f"{plan.endpoint_name}-alerts",
                group_short_name=re.sub(r"[^A-Za-z0-9]", "", plan.endpoint_name)[:12],
                resource_group_name=plan.resource_group_name,
                location="Global",
                enabled=True,
                email_receivers=[
                    monitor.MicrosoftCommonEmailReceiverArgs(
                        name=f"email-{i}", email_address=e, use_common_alert_schema=True
                    )
                    for i, e in enumerate(al.emails)
                ],
                tags=tags,
                opts=child(),
            )
            groups.append(group.id)
        actions = [monitor.MetricAlertActionArgs(action_group_id=g) for g in groups] or None
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
