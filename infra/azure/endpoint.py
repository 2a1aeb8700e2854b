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

Private networking (``publicNetworkAccess: Disabled``): the workspace, endpoint and vault are
closed; the storage account and the registry accept only the deploying runner's addresses
(``deployerIpRanges``, Premium ACR network rules) or, with ``deployFromPrivateNetwork``,
nobody outside the VNet (``pulumi up`` then runs inside it, with private endpoints and DNS for
blob and ACR, which the team's network stack provides).

The constructor calls one function per phase, each in the module named for what it makes:
:mod:`~infra.azure.workspace` (group, vault, insights, workspace), :mod:`~infra.azure.storage`
(account, packages container, datastore, weights), :mod:`~infra.azure.image` (registry,
image), :mod:`~infra.azure.assets` (model and environment versions),
:mod:`~infra.azure.identity` (the endpoint's identity and its roles), the endpoint here,
:mod:`~infra.azure.deployment` (deployments, traffic), :mod:`~infra.azure.scaling` and
:mod:`~infra.azure.monitoring`. Every child is this component's, under the name it always
had: a split of the code never moves a resource.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.machinelearningservices as ml

from infra.azure import assets, deployment, identity, image, monitoring, scaling, storage, workspace
from infra.azure.config import AzurePlan
from infra.azure.scope import Scope, known

TYPE_TOKEN = "genai-endpoints:azure:AzureMlEndpoint"
AUTH_MODES = {"key": "Key", "aadToken": "AADToken"}


@dataclass(frozen=True)
class AzureMlEndpointArgs:
    plan: AzurePlan
    tags: dict[str, str]
    stack: str


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
        scope = self._scope(name, args)
        scope = replace(scope, group_deps=workspace.resource_group(scope))
        account = storage.account(scope)
        container = storage.packages_container(scope, account)
        vault = workspace.vault(scope)
        insights = workspace.insights(scope)
        registry = image.container_registry(scope)
        ws = workspace.workspace(scope, account, vault, insights, registry)
        datastore = storage.datastore(scope, ws, container)
        self.datastore_uri = storage.datastore_uri(scope)
        weights = storage.upload_weights(scope, container)
        self.image = image.runtime_image(scope, registry)
        model = assets.model_version(scope, self.datastore_uri, [datastore, weights])
        environment = assets.environment_version(scope, self.image, ws)
        ident = identity.endpoint_identity(scope)
        endpoint = online_endpoint(scope, ident, ws)
        self.role_assignments: list[authorization.RoleAssignment] = []
        if ident.principal is not None:
            where = {"registry": registry.id, "packages": container.id, "workspace": ws.id}
            self.role_assignments = identity.grant_roles(scope, ident.principal, where, endpoint)
        self.deployments = deployment.online_deployments(
            scope, endpoint, model, environment, self.role_assignments
        )
        deployments = list(self.deployments.values())
        self.traffic = deployment.endpoint_traffic(scope, endpoint, deployments)
        if plan.settings.autoscale.enabled:
            for d in plan.deployments:
                scaling.autoscale(scope, d, self.deployments[d.name], endpoint)
        if plan.settings.alarms.notifies:
            monitoring.alerts(scope, endpoint, deployments)
        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        self.scoring_uri = pulumi.Output.from_input(
            f"https://{plan.endpoint_name}.{plan.settings.location}.inference.ml.azure.com/score"
        )
        self.register_outputs(
            {
                "workspace": plan.workspace_name,
                "datastore_uri": self.datastore_uri,
                "weights_prefix": plan.manifest.weights.key_prefix,
                "image": self.image,
                "endpoint_name": plan.endpoint_name,
                "scoring_uri": self.scoring_uri,
                "endpoint_id": endpoint.id,
                "traffic": deployment.live_traffic(plan),
            }
        )

    def _scope(self, name: str, args: AzureMlEndpointArgs) -> Scope:
        """The deploying identity's subscription (unless configured) and tenant."""
        client = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        )
        cfg = args.plan.settings
        self.subscription_id = (
            pulumi.Output.from_input(cfg.subscription_id)
            if cfg.subscription_id
            else client.subscription_id.apply(known("subscription"))
        )
        return Scope(
            name=name,
            parent=self,
            plan=args.plan,
            tags=dict(args.tags),
            stack=args.stack,
            client=client,
            subscription=self.subscription_id,
            tenant=client.tenant_id.apply(known("tenant")),
        )


def online_endpoint(
    scope: Scope, ident: identity.EndpointIdentity, ws: ml.Workspace
) -> ml.OnlineEndpoint:
    """The endpoint with no traffic: :class:`~infra.azure.traffic.EndpointTraffic` writes it
    once the deployments exist."""
    plan, cfg = scope.plan, scope.plan.settings
    return ml.OnlineEndpoint(
        f"{scope.name}-endpoint",
        endpoint_name=plan.endpoint_name,
        location=cfg.location,
        identity=ident.args,
        properties=ml.OnlineEndpointPropertiesArgs(
            auth_mode=AUTH_MODES[cfg.auth_mode],
            public_network_access=cfg.public_network_access,
            description=f"{plan.manifest.model.id} ({plan.task}), genai-endpoints {scope.stack}",
        ),
        tags=scope.tags,
        # traffic is written by EndpointTraffic once the deployments exist
        opts=scope.child(
            depends_on=[ws, *ident.created],
            ignore_changes=["properties.traffic", "properties.mirrorTraffic"],
        ),
        **scope.in_workspace,
    )
