"""One Vertex AI endpoint with its bucket, registry, image, identities, model and deployment.

One ``pulumi up`` from nothing to a serving endpoint: the APIs; the service agents that
CMEK grants and image pulls name (created explicitly: a fresh project has none yet), then
the key grants; the bucket and the Artifact Registry repository; the weights uploaded to
``gs://<bucket>/<weights.key_prefix>`` (:mod:`infra.weights`, content-addressed) and the
runtime image built and pushed by digest (:mod:`infra.runtime`), in parallel; the endpoint;
then the model upload and deployment (:mod:`infra.gcp.vertex_provider`), whose
``artifactUri`` is that prefix — Vertex hands it to the container as ``AIP_STORAGE_URI``
and the server downloads and verifies the weights at start — and whose image is
``repo@sha256:…``.

The constructor calls one function per phase, each in the module named for what it makes:
:mod:`~infra.gcp.project` (APIs, service agents, CMEK grants), :mod:`~infra.gcp.storage`
(bucket, weights), :mod:`~infra.gcp.image` (repository, image),
:mod:`~infra.gcp.identity` (the serving account, least privilege), the endpoint here, and
:mod:`~infra.gcp.deployment` (model and deployment). Every child is this component's, under
the name it always had: a split of the code never moves a resource.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi
import pulumi_gcp.bigquery as bigquery
import pulumi_gcp.vertex as vertex
from pulumi_gcp.provider import Provider

from infra.gcp import deployment, identity, image, project, storage
from infra.gcp.config import GcpPlan
from infra.gcp.scope import Scope, gcp_labels
from infra.gcp.storage import artifact_uri

TYPE_TOKEN = "genai-endpoints:gcp:VertexEndpoint"


@dataclass(frozen=True)
class VertexEndpointArgs:
    plan: GcpPlan
    task: str
    tags: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)


class VertexEndpoint(pulumi.ComponentResource):
    """APIs, agents, bucket, registry, image, weights, identity, endpoint, deployment."""

    endpoint_name: pulumi.Output[str]
    predict_url: pulumi.Output[str]
    deployed_model_id: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    service_account_email: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(
        self, name: str, args: VertexEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        plan = args.plan
        labels = gcp_labels(args.tags)
        provider = Provider(
            f"{name}-provider",
            project=plan.project,
            region=plan.settings.region,
            default_labels=labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        scope = Scope(name, self, provider, plan, labels)
        scope = replace(scope, apis=project.enable_apis(scope))
        agents = project.service_agents(scope)
        key_grants = project.key_grants(scope, agents)
        bucket = storage.bucket(scope, key_grants)
        weights = storage.upload_weights(scope, bucket)
        self.image, image_deps = image.runtime_image(scope, agents, key_grants)
        serving = identity.serving_identity(scope, bucket)
        endpoint = ai_endpoint(scope, args.task, key_grants)
        props = deployment.deployment_props(
            scope, args.task, args.extra_env, serving.email, self.image
        )
        deployed = deployment.deploy_model(
            scope, props, [endpoint, weights, *serving.grants, *image_deps]
        )
        self.bucket_name = bucket.name
        self.service_account_email = pulumi.Output.from_input(serving.email)
        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        # the deployment reads the endpoint's dedicated DNS after create; previews show the form
        self.predict_url = deployed.predict_url
        self.deployed_model_id = deployed.deployed_model_id
        self.register_outputs(
            {
                "bucket": bucket.name,
                "service_account": serving.email,
                "endpoint_name": plan.endpoint_name,
                "artifact_uri": artifact_uri(plan),
                "image": self.image,
                "deployed_model_id": deployed.deployed_model_id,
                "model_id": deployed.model_id,
            }
        )


def logging_dataset(scope: Scope) -> list[pulumi.Resource]:
    """The BigQuery dataset request/response logging writes to, when the stack makes it."""
    plan = scope.plan
    if not plan.bigquery_dataset:
        return []
    dataset = bigquery.Dataset(
        f"{scope.name}-logs",
        project=plan.project,
        dataset_id=plan.bigquery_dataset,
        location=plan.settings.region,
        description=f"genai-endpoints {plan.stack}: Vertex AI request logs",
        labels=scope.labels,
        delete_contents_on_destroy=plan.settings.force_destroy,
        opts=scope.child(depends_on=scope.needs("bigquery.googleapis.com")),
    )
    return [dataset]


def ai_endpoint(scope: Scope, task: str, key_grants: list[pulumi.Resource]) -> vertex.AiEndpoint:
    """The endpoint: shared, dedicated, VPC-peered or PSC, with its request logging."""
    plan, cfg = scope.plan, scope.plan.settings
    project, region = plan.project, cfg.region
    depends_on = [*scope.needs("aiplatform.googleapis.com"), *key_grants, *logging_dataset(scope)]
    return vertex.AiEndpoint(
        f"{scope.name}-endpoint",
        name=plan.endpoint_id,
        display_name=f"genai-{plan.stack}",
        description=f"genai-endpoints {plan.stack}: {plan.manifest.model.id} ({task})",
        project=project,
        location=region,
        region=region,
        labels=scope.labels,
        encryption_spec=(
            vertex.AiEndpointEncryptionSpecArgs(kms_key_name=cfg.kms_key) if cfg.kms_key else None
        ),
        network=cfg.network,
        private_service_connect_config=(
            vertex.AiEndpointPrivateServiceConnectConfigArgs(
                enable_private_service_connect=True,
                project_allowlists=list(cfg.psc.project_allowlist) or [project],
            )
            if cfg.psc.enabled
            else None
        ),
        dedicated_endpoint_enabled=plan.dedicated,
        predict_request_response_logging_config=request_logging(scope.plan),
        # the deployment below owns the traffic split (and the inference timeout)
        opts=scope.child(depends_on=depends_on, ignore_changes=["trafficSplit"]),
    )


def request_logging(
    plan: GcpPlan,
) -> vertex.AiEndpointPredictRequestResponseLoggingConfigArgs | None:
    logging_cfg = plan.settings.request_response_logging
    if not logging_cfg.enabled:
        return None
    return vertex.AiEndpointPredictRequestResponseLoggingConfigArgs(
        enabled=True,
        sampling_rate=logging_cfg.sampling_rate,
        bigquery_destination=vertex.AiEndpointPredictRequestResponseLoggingConfigBigqueryDestinationArgs(
            output_uri=logging_cfg.bigquery_uri or f"bq://{plan.project}"
        ),
    )
