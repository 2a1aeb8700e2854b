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

Least privilege: the serving service account gets ``roles/storage.objectViewer`` on the
bucket *with an IAM condition* limiting it to objects under the model prefix and listings of
that prefix (``models/<digest>/``, the same string as ``artifactUri``), plus
``roles/logging.logWriter`` and ``roles/monitoring.metricWriter`` on the project. The same
account performs the model upload (``UploadModelRequest.serviceAccount``). The Vertex AI
service agent gets ``roles/artifactregistry.reader`` on the image repository only; with a
CMEK key, only the Cloud Storage, Vertex AI and Artifact Registry service agents get
``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on that one key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp.artifactregistry as artifactregistry
import pulumi_gcp.bigquery as bigquery
import pulumi_gcp.kms as kms
import pulumi_gcp.projects as projects
import pulumi_gcp.serviceaccount as serviceaccount
import pulumi_gcp.storage as storage
import pulumi_gcp.vertex as vertex
from pulumi_gcp.organizations import get_client_config_output
from pulumi_gcp.provider import Provider

from infra.gcp.config import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, GcpPlan
from infra.gcp.vertex_provider import VertexDeployment
from infra.runtime import IMAGE_NAME, pushed_image
from infra.serving import container_env as serving_env
from infra.weights import WeightsUpload

TYPE_TOKEN = "genai-endpoints:gcp:VertexEndpoint"
SERVING_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
BASE_APIS = (
    "aiplatform.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)
KEY_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class VertexEndpointArgs:
    plan: GcpPlan
    task: str
    tags: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """Tags as GCP labels: lowercase, ``[a-z0-9_-]``, keys start with a letter, ≤ 63 chars."""
    out = {}
    for k, v in tags.items():
        key = re.sub(r"[^a-z0-9_-]", "_", k.lower())[:63]
        if not key or not key[0].isalpha():
            key = ("k" + key)[:63]
        out[key] = re.sub(r"[^a-z0-9_-]", "_", str(v).lower())[:63]
    return out


def service_account_id(stack: str) -> str:
    """``[a-z][a-z0-9-]{4,28}[a-z0-9]``: 6-30 characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"genai-vx-{stack}".lower()).strip("-")
    if len(base) > 30:
        base = f"genai-vx-{hashlib.sha256(stack.encode()).hexdigest()[:8]}"
    return base.ljust(6, "0")


def repository_id(stack: str) -> str:
    """Artifact Registry repository id: ``[a-z][a-z0-9-]*``, at most 63 characters."""
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", f"genai-{stack}".lower())).strip("-")
    return base[:63].rstrip("-")


def content_id(*parts: object, length: int = 12) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def model_id_for(stack: str, spec: dict) -> str:
    """A model id (``[a-z][a-z0-9_-]{0,62}``) that changes exactly when the upload would."""
    stem = re.sub(r"[^a-z0-9-]+", "-", f"genai-{stack}".lower()).strip("-")[:48]
    return f"{stem}-{content_id(spec)}"


def deployed_model_id_for(model_id: str, fixed: dict) -> str:
    """1-10 digits, no leading zero; changes when the model or an immutable setting does."""
    n = int(content_id(model_id, fixed, length=16), 16)
    return str(1_000_000_000 + n % 9_000_000_000)


def startup_budget_s(size_bytes: int) -> int:
    """Download from GCS + verify + load to GPU + warm-up; 10 min floor, 1 h cap."""
    return min(3600, max(600, int(size_bytes / 1e9) * 60 + 600))


def artifact_uri(plan: GcpPlan) -> str:
    """The model's ``artifactUri``: the weights prefix, with its trailing slash — the same
    string the serving account's IAM condition allows reading and listing."""
    return f"gs://{plan.bucket_name}/{plan.manifest.weights.key_prefix}"


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
        cfg = plan.settings
        manifest = plan.manifest
        project, region = plan.project, cfg.region
        labels = gcp_labels(args.tags)
        build = plan.image.built

        provider = Provider(
            f"{name}-provider",
            project=project,
            region=region,
            default_labels=labels,
            opts=pulumi.ResourceOptions(parent=self),
        )

        def child(**kw) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, **kw)

        def own(**kw) -> pulumi.ResourceOptions:
            """Options for this component's non-GCP children (dynamic, docker-build)."""
            return pulumi.ResourceOptions(parent=self, **kw)

        # ---------------------------------------------------------------- APIs
        apis: dict[str, projects.Service] = {}
        if cfg.enable_apis:
            wanted = list(BASE_APIS)
            if build:
                wanted.append("artifactregistry.googleapis.com")
            if cfg.kms_key:
                wanted.append("cloudkms.googleapis.com")
            if plan.bigquery_dataset:
                wanted.append("bigquery.googleapis.com")
            if cfg.network:
                wanted += ["compute.googleapis.com", "servicenetworking.googleapis.com"]
            if cfg.psc.enabled:
                wanted.append("compute.googleapis.com")
            for api in dict.fromkeys(wanted):
                apis[api] = projects.Service(
                    f"{name}-api-{api.split('.')[0]}",
                    project=project,
                    service=api,
                    disable_on_destroy=False,  # other workloads in the project may use it
                    opts=child(),
                )

        def needs(*names: str) -> list[pulumi.Resource]:
            return [apis[n] for n in names if n in apis]

        # ---------------------------------------------------------------- service agents
        # A fresh project has no service agents until something creates them; the grants
        # below name them, so create them (after their API) instead of assuming them.
        vertex_agent = projects.ServiceIdentity(
            f"{name}-vertex-agent",
            project=project,
            service="aiplatform.googleapis.com",
            opts=child(depends_on=needs("aiplatform.googleapis.com")),
        )
        registry_agent = None
        if build and cfg.kms_key:
            registry_agent = projects.ServiceIdentity(
                f"{name}-registry-agent",
                project=project,
                service="artifactregistry.googleapis.com",
                opts=child(depends_on=needs("artifactregistry.googleapis.com")),
            )

        # ---------------------------------------------------------------- CMEK grants
        key_grants: list[pulumi.Resource] = []
        if cfg.kms_key:
            gcs_agent = storage.get_project_service_account_output(
                project=project,
                opts=pulumi.InvokeOutputOptions(
                    parent=self, provider=provider, depends_on=needs("storage.googleapis.com")
                ),
            )
            members = {"gcs": gcs_agent.member, "vertex": vertex_agent.member}
            if registry_agent is not None:
                members["registry"] = registry_agent.member
            for agent, member in members.items():
                key_grants.append(
                    kms.CryptoKeyIAMMember(
                        f"{name}-key-{agent}",
                        crypto_key_id=cfg.kms_key,
                        role=KEY_ROLE,
                        member=member,
                        opts=child(depends_on=needs("cloudkms.googleapis.com")),
                    )
                )

        # ---------------------------------------------------------------- bucket + weights
        bucket = storage.Bucket(
            f"{name}-bucket",
            name=plan.bucket_name,
            project=project,
            location=region.upper(),  # Vertex reads artifacts from a bucket in its region
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=storage.BucketVersioningArgs(enabled=True),
            encryption=(
                storage.BucketEncryptionArgs(default_kms_key_name=cfg.kms_key)
                if cfg.kms_key
                else None
            ),
            force_destroy=cfg.force_destroy,
            labels=labels,
            opts=child(depends_on=[*needs("storage.googleapis.com"), *key_grants]),
        )
        prefix = manifest.weights.key_prefix
        weights = WeightsUpload(
            f"{name}-weights",
            store={"kind": "gs", "bucket": bucket.name, "project": project},
            uri=bucket.name.apply(lambda b: f"gs://{b}/{prefix}"),
            manifest=manifest,
            folder=str(plan.weights_dir.resolve()),
            project_dir=str(plan.project_dir.resolve()),
            opts=own(depends_on=[bucket]),
        )

        # ---------------------------------------------------------------- runtime image
        image_deps: list[pulumi.Resource] = []
        if build:
            repo = artifactregistry.Repository(
                f"{name}-registry",
                project=project,
                location=region,
                repository_id=repository_id(plan.stack),
                format="DOCKER",
                description=f"genai-endpoints {plan.stack}: the runtime image, by digest",
                docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
                kms_key_name=cfg.kms_key,
                labels=labels,
                opts=child(depends_on=[*needs("artifactregistry.googleapis.com"), *key_grants]),
            )
            host = f"{region}-docker.pkg.dev"
            repository = repo.repository_id.apply(lambda r: f"{host}/{project}/{r}/{IMAGE_NAME}")
            import pulumi_docker_build as docker_build

            client = get_client_config_output(
                opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
            )
            registry = docker_build.RegistryArgs(
                address=host,
                username="oauth2accesstoken",  # Artifact Registry's name for a bearer token
                password=pulumi.Output.secret(client.access_token),
            )
            image = pushed_image(
                f"{name}-image",
                plan.image,
                repository,
                registry,
                {"genai-endpoints.engine-version": manifest.engine_version},
                own(depends_on=[repo]),
            )
            pull = artifactregistry.RepositoryIamMember(
                f"{name}-agent-pulls-image",
                project=project,
                location=region,
                repository=repo.name,
                role="roles/artifactregistry.reader",
                member=vertex_agent.member,
                opts=child(),
            )
            image_deps.append(pull)
        else:
            image = pulumi.Output.from_input(plan.image.pinned)
        self.image = image

        # ---------------------------------------------------------------- serving identity
        account_id = service_account_id(plan.stack)
        sa_email = f"{account_id}@{project}.iam.gserviceaccount.com"
        account = serviceaccount.Account(
            f"{name}-serving",
            account_id=account_id,
            project=project,
            display_name=f"genai-endpoints {plan.stack}: Vertex AI serving",
            description="Reads the model prefix of its bucket; writes logs and metrics.",
            opts=child(depends_on=needs("iam.googleapis.com")),
        )
        member = f"serviceAccount:{sa_email}"
        object_prefix = f"projects/_/buckets/{plan.bucket_name}/objects/{prefix}"
        list_prefix = prefix.rstrip("/")
        read = storage.BucketIAMMember(
            f"{name}-read-model-prefix",
            bucket=bucket.name,
            role="roles/storage.objectViewer",
            member=member,
            condition=storage.BucketIAMMemberConditionArgs(
                title="model-prefix-only",
                description=f"read and list only {prefix}",
                # the prefix the artifactUri names, listed with or without its slash
                expression=(
                    f'resource.name.startsWith("{object_prefix}") || '
                    'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
                    f'.startsWith("{prefix}") || '
                    'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
                    f' == "{list_prefix}"'
                ),
            ),
            opts=child(depends_on=[account]),
        )
        grants: list[pulumi.Resource] = [read]
        for role in SERVING_ROLES:
            grants.append(
                projects.IAMMember(
                    f"{name}-{role.split('/')[-1].replace('.', '-').lower()}",
                    project=project,
                    role=role,
                    member=member,
                    opts=child(depends_on=[account]),
                )
            )

        # ---------------------------------------------------------------- logging dataset
        endpoint_deps: list[pulumi.Resource] = [*needs("aiplatform.googleapis.com"), *key_grants]
        if plan.bigquery_dataset:
            endpoint_deps.append(
                bigquery.Dataset(
                    f"{name}-logs",
                    project=project,
                    dataset_id=plan.bigquery_dataset,
                    location=region,
                    description=f"genai-endpoints {plan.stack}: Vertex AI request logs",
                    labels=labels,
                    delete_contents_on_destroy=cfg.force_destroy,
                    opts=child(depends_on=needs("bigquery.googleapis.com")),
                )
            )

        # ---------------------------------------------------------------- endpoint
        logging_cfg = cfg.request_response_logging
        endpoint = vertex.AiEndpoint(
            f"{name}-endpoint",
            name=plan.endpoint_id,
            display_name=f"genai-{plan.stack}",
            description=f"genai-endpoints {plan.stack}: {manifest.model.id} ({args.task})",
            project=project,
            location=region,
            region=region,
            labels=labels,
            encryption_spec=(
                vertex.AiEndpointEncryptionSpecArgs(kms_key_name=cfg.kms_key)
                if cfg.kms_key
                else None
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
            predict_request_response_logging_config=(
                vertex.AiEndpointPredictRequestResponseLoggingConfigArgs(
                    enabled=True,
                    sampling_rate=logging_cfg.sampling_rate,
                    bigquery_destination=vertex.AiEndpointPredictRequestResponseLoggingConfigBigqueryDestinationArgs(
                        output_uri=logging_cfg.bigquery_uri or f"bq://{project}"
                    ),
                )
                if logging_cfg.enabled
                else None
            ),
            # the deployment below owns the traffic split (and the inference timeout)
            opts=child(depends_on=endpoint_deps, ignore_changes=["trafficSplit"]),
        )

        # ---------------------------------------------------------------- model + deployment
        props = deployment_props(args, sa_email, image)
        deployment = VertexDeployment(
            f"{name}-deployment",
            props,
            opts=own(
                depends_on=[endpoint, weights, *grants, *image_deps],
                custom_timeouts=pulumi.CustomTimeouts(
                    create=f"{cfg.operation_timeout_minutes * 3}m",
                    update=f"{cfg.operation_timeout_minutes * 4}m",
                    delete=f"{cfg.operation_timeout_minutes * 2}m",
                ),
            ),
        )
        self.bucket_name = bucket.name
        self.service_account_email = pulumi.Output.from_input(sa_email)
        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        # the deployment reads the endpoint's dedicated DNS after create; previews show the form
        self.predict_url = deployment.predict_url
        self.deployed_model_id = deployment.deployed_model_id
        self.register_outputs(
            {
                "bucket": bucket.name,
                "service_account": sa_email,
                "endpoint_name": plan.endpoint_name,
                "artifact_uri": artifact_uri(plan),
                "image": image,
                "deployed_model_id": deployment.deployed_model_id,
                "model_id": deployment.model_id,
            }
        )


def predict_url(plan: GcpPlan) -> str:
    """Where to POST ``{"instances": [...]}``; a dedicated endpoint answers on its own DNS."""
    path = f"v1/{plan.endpoint_name}:predict"
    cfg = plan.settings
    if plan.dedicated:
        # https://{endpointId}.{region}-{projectNumber}.prediction.vertexai.goog; the
        # deployment replaces this form with the endpoint's dedicatedEndpointDns once it exists
        return f"https://{plan.endpoint_id}.{cfg.region}-<project-number>.prediction.vertexai.goog/{path}"
    if cfg.psc.enabled:
        return f"https://<psc-endpoint-ip-or-dns>/{path}"
    return f"https://{cfg.region}-aiplatform.googleapis.com/{path}"


def container_env(args: VertexEndpointArgs) -> dict[str, str]:
    """The container's environment (the AIP_* variables are Vertex's own, never set here)."""
    plan = args.plan
    limit = plan.limit
    extra = {"GENAI_MODE": "dedicated" if plan.limit.name == "dedicated" else "shared"}
    if limit.max_response_bytes:
        extra["GENAI_MAX_RESPONSE_BYTES"] = str(limit.max_response_bytes)
    extra.update(args.extra_env)
    return serving_env(
        plan.manifest,
        "vertex",
        task=args.task,
        timeout_s=limit.timeout_s,
        max_request_bytes=limit.max_request_bytes,
        extra=extra,
        speed=plan.settings.speed,
        engine=plan.engine_env,
    )


def deployment_props(args: VertexEndpointArgs, sa_email: str, image: pulumi.Input[str]) -> dict:
    """The dynamic resource's inputs: JSON (the image an Output), no credentials."""
    plan = args.plan
    cfg = plan.settings
    manifest = plan.manifest
    rt = manifest.runtime
    labels = gcp_labels(args.tags)
    budget = startup_budget_s(manifest.model.size_bytes)
    period = 10
    env = container_env(args)
    container = {
        "imageUri": image,
        "args": list(rt.args),
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "ports": [{"containerPort": rt.port}],
        "healthRoute": rt.health_route,
        "predictRoute": rt.predict_route,
        "sharedMemorySizeMb": str(cfg.shared_memory_mb),  # int64: a string in JSON
        "startupProbe": {
            "httpGet": {"path": rt.readiness_route, "port": rt.port},
            "periodSeconds": period,
            "timeoutSeconds": period + 5,  # the API wants period < timeout
            "failureThreshold": budget // period,
        },
        "healthProbe": {
            "httpGet": {"path": rt.health_route, "port": rt.port},
            "periodSeconds": period,
            "timeoutSeconds": period + 5,
            "failureThreshold": 3,
        },
        "deploymentTimeout": f"{min(7200, budget + 900)}s",
    }
    model: dict = {
        "displayName": f"genai-{plan.stack}-{manifest.model.id.split('/')[-1]}"[:128],
        "description": f"{manifest.model.id}@{manifest.model.revision} (engine "
        f"{manifest.engine_version}, weights {manifest.weights.digest[:12]})",
        "artifactUri": artifact_uri(plan),
        "containerSpec": container,
        "labels": labels,
    }
    if cfg.kms_key:
        model["encryptionSpec"] = {"kmsKeyName": cfg.kms_key}
    auto = cfg.autoscaling
    metrics = []
    if auto.accelerator_duty_cycle is not None:
        metrics.append(
            {"metricName": ACCELERATOR_DUTY_CYCLE, "target": auto.accelerator_duty_cycle}
        )
    if auto.cpu_utilization is not None:
        metrics.append({"metricName": CPU_UTILIZATION, "target": auto.cpu_utilization})
    machine = {
        "machineType": plan.instance.name,
        "acceleratorType": plan.accelerator_type,
        "acceleratorCount": plan.accelerator_count,
    }
    deployed = {
        "displayName": model["displayName"],
        "dedicatedResources": {
            "machineSpec": machine,
            "minReplicaCount": cfg.min_replicas,
            "maxReplicaCount": cfg.max_replicas,
            "autoscalingMetricSpecs": metrics,
            "spot": cfg.spot,
        },
        "serviceAccount": sa_email,
        "disableContainerLogging": not cfg.container_logging,
        "enableAccessLogging": cfg.access_logging,
    }
    # the model id is content-derived: the image digest is part of it once known
    spec = pulumi.Output.from_input(image).apply(
        lambda ref: model_id_for(
            plan.stack,
            {
                "endpoint": plan.endpoint_name,
                "model": {**model, "containerSpec": {**container, "imageUri": ref}},
            },
        )
    )
    immutable = {
        "machine": machine,
        "spot": cfg.spot,
        "serviceAccount": sa_email,
        "enableAccessLogging": cfg.access_logging,
    }
    timeout = plan.inference_timeout_s
    return {
        "api_base": f"https://{cfg.region}-aiplatform.googleapis.com/v1",
        "project": plan.project,
        "region": cfg.region,
        "endpoint": plan.endpoint_name,
        "model_id": spec,
        "model": model,
        "upload_service_account": sa_email,
        "deployed_model_id": spec.apply(lambda m: deployed_model_id_for(m, immutable)),
        "deployed_model": deployed,
        "traffic_percent": cfg.traffic_percent,
        "inference_timeout": f"{timeout}s" if timeout else None,
        "predict_url": predict_url(plan),
        "timeout_s": cfg.operation_timeout_minutes * 60,
        "poll_s": 15,
    }
