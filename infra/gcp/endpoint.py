"""One Vertex AI endpoint with its bucket, serving identity, APIs, model and deployment.

Weights are *referenced*: ``genai-endpoints upload`` puts the package's ``model/`` folder
under ``gs://<bucket>/<weights.key_prefix>`` (``models/<digest>/``), and that prefix is the
model's ``artifactUri`` — the one folder Vertex AI hands the container as ``AIP_STORAGE_URI``.
The Vertex package keeps its code (``handler.py``, ``scoring/``, ``requirements.txt``) in the
same folder, so Pulumi uploads those small files to the same prefix; the weights never pass
through Pulumi. Each code object carries its sha256 and the code digest, and the digest is
in the container's environment, so a code change makes a new model and a rollout.

Least privilege: the serving service account gets ``roles/storage.objectViewer`` on the
bucket *with an IAM condition* limiting it to objects under the model prefix (and to
listings of that prefix) — it cannot read other model versions or anything else in the
bucket — plus ``roles/logging.logWriter`` and ``roles/monitoring.metricWriter`` on the
project (those roles have no narrower resource). The same account performs the model upload
(``UploadModelRequest.serviceAccount``) so Vertex's broad service agent needs no bucket grant.
With a CMEK key, only the Cloud Storage and Vertex AI service agents get
``roles/cloudkms.cryptoKeyEncrypterDecrypter`` on that one key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp.kms as kms
import pulumi_gcp.projects as projects
import pulumi_gcp.serviceaccount as serviceaccount
import pulumi_gcp.storage as storage
import pulumi_gcp.vertex as vertex
from pulumi_gcp.organizations import get_project_output
from pulumi_gcp.provider import Provider

from infra.gcp.config import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, GcpPlan
from infra.gcp.vertex_provider import VertexDeployment

TYPE_TOKEN = "genai-endpoints:gcp:VertexEndpoint"
SERVING_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
BASE_APIS = (
    "aiplatform.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)


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
    """Download from GCS + pip pins at start + load to GPU + warm-up; 10 min floor, 1 h cap."""
    return min(3600, max(600, int(size_bytes / 1e9) * 60 + 600))


class VertexEndpoint(pulumi.ComponentResource):
    """APIs, bucket, serving identity, code, endpoint, and the model deployment on it."""

    endpoint_name: pulumi.Output[str]
    predict_url: pulumi.Output[str]
    deployed_model_id: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    service_account_email: pulumi.Output[str]

    def __init__(
        self, name: str, args: VertexEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        plan = args.plan
        cfg = plan.settings
        manifest = plan.manifest
        project, region = plan.project, cfg.region
        labels = gcp_labels(args.tags)

        provider = Provider(
            f"{name}-provider",
            project=project,
            region=region,
            default_labels=labels,
            opts=pulumi.ResourceOptions(parent=self),
        )

        def child(**kw) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, **kw)

        # ---------------------------------------------------------------- APIs
        apis: dict[str, projects.Service] = {}
        if cfg.enable_apis:
            wanted = list(BASE_APIS)
            if cfg.kms_key:
                wanted.append("cloudkms.googleapis.com")
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

        # ---------------------------------------------------------------- CMEK grants
        key_grants: list[pulumi.Resource] = []
        if cfg.kms_key:
            number = get_project_output(
                project_id=project, opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
            ).number
            agents = {
                "gcs": number.apply(
                    lambda n: (
                        f"serviceAccount:service-{n}@gs-project-accounts.iam.gserviceaccount.com"
                    )
                ),
                "vertex": number.apply(
                    lambda n: (
                        f"serviceAccount:service-{n}@gcp-sa-aiplatform.iam.gserviceaccount.com"
                    )
                ),
            }
            for agent, member in agents.items():
                key_grants.append(
                    kms.CryptoKeyIAMMember(
                        f"{name}-key-{agent}",
                        crypto_key_id=cfg.kms_key,
                        role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                        member=member,
                        opts=child(depends_on=needs("cloudkms.googleapis.com")),
                    )
                )

        # ---------------------------------------------------------------- bucket
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

        # ---------------------------------------------------------------- code objects
        prefix = manifest.weights.key_prefix
        code_objects = []
        for entry in manifest.code.files:
            safe = re.sub(r"[^A-Za-z0-9]+", "-", entry.path).strip("-")
            code_objects.append(
                storage.BucketObject(
                    f"{name}-code-{safe}",
                    bucket=bucket.name,
                    name=f"{prefix}{entry.path}",
                    source=pulumi.FileAsset(str(plan.code_dir / entry.path)),
                    metadata={"sha256": entry.sha256, "code-digest": manifest.code.digest},
                    opts=child(),
                )
            )

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
        read = storage.BucketIAMMember(
            f"{name}-read-model-prefix",
            bucket=bucket.name,
            role="roles/storage.objectViewer",
            member=member,
            condition=storage.BucketIAMMemberConditionArgs(
                title="model-prefix-only",
                description=f"read and list only {prefix}",
                expression=(
                    f'resource.name.startsWith("{object_prefix}") || '
                    'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
                    f'.startsWith("{prefix}")'
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
            # the deployment below owns the traffic split
            opts=child(
                depends_on=[*needs("aiplatform.googleapis.com"), *key_grants],
                ignore_changes=["trafficSplit"],
            ),
        )

        self.bucket_name = bucket.name
        self.service_account_email = pulumi.Output.from_input(sa_email)
        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        outputs: dict[str, pulumi.Input] = {
            "bucket": bucket.name,
            "service_account": sa_email,
            "endpoint_name": plan.endpoint_name,
            "artifact_uri": f"gs://{plan.bucket_name}/{prefix}",
        }
        if not cfg.deploy_model:
            self.predict_url = pulumi.Output.from_input(predict_url(plan))
            self.deployed_model_id = pulumi.Output.from_input("")
            self.register_outputs(outputs)
            return

        # ---------------------------------------------------------------- model + deployment
        props = deployment_props(args, sa_email)
        deployment = VertexDeployment(
            f"{name}-deployment",
            props,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[endpoint, *code_objects, *grants],
                custom_timeouts=pulumi.CustomTimeouts(
                    create=f"{cfg.operation_timeout_minutes * 3}m",
                    update=f"{cfg.operation_timeout_minutes * 4}m",
                    delete=f"{cfg.operation_timeout_minutes * 2}m",
                ),
            ),
        )
        # the deployment reads the endpoint's dedicated DNS after create; previews show the form
        self.predict_url = deployment.predict_url
        self.deployed_model_id = deployment.deployed_model_id
        outputs.update(deployed_model_id=deployment.deployed_model_id, model_id=deployment.model_id)
        self.register_outputs(outputs)


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
    plan = args.plan
    manifest = plan.manifest
    limit = plan.limit
    env = dict(manifest.serving.env)  # the package knows its container best
    env.update(
        {
            "GENAI_TASK": args.task,
            "GENAI_MODE": "dedicated" if plan.limit.name == "dedicated" else "shared",
            "GENAI_MODEL_ID": manifest.model.id,
            "GENAI_MODEL_REVISION": manifest.model.revision,
            "GENAI_MODEL_DIGEST": manifest.model.digest,
            "GENAI_CODE_DIGEST": manifest.code.digest,
            "GENAI_TIMEOUT_S": str(limit.timeout_s),
            "GENAI_REQUEST_TIMEOUT_S": str(max(1, limit.timeout_s - 5)),
            "GENAI_MAX_REQUEST_BYTES": str(limit.max_request_bytes),
        }
    )
    if limit.max_response_bytes:
        env["GENAI_MAX_RESPONSE_BYTES"] = str(limit.max_response_bytes)
    env.update(args.extra_env)
    return env


def deployment_props(args: VertexEndpointArgs, sa_email: str) -> dict:
    """The dynamic resource's inputs: plain JSON, no Outputs, no credentials."""
    plan = args.plan
    cfg = plan.settings
    manifest = plan.manifest
    serving = manifest.serving
    labels = gcp_labels(args.tags)
    budget = startup_budget_s(manifest.model.size_bytes)
    period = 10
    env = container_env(args)
    container = {
        "imageUri": serving.image,
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "ports": [{"containerPort": serving.port}],
        "healthRoute": serving.health_route,
        "predictRoute": serving.predict_route,
        "sharedMemorySizeMb": str(cfg.shared_memory_mb),  # int64: a string in JSON
        "startupProbe": {
            "httpGet": {"path": serving.health_route, "port": serving.port},
            "periodSeconds": period,
            "timeoutSeconds": period + 5,  # the API wants period < timeout
            "failureThreshold": budget // period,
        },
        "healthProbe": {
            "httpGet": {"path": serving.health_route, "port": serving.port},
            "periodSeconds": period,
            "timeoutSeconds": period + 5,
            "failureThreshold": 3,
        },
        "deploymentTimeout": f"{min(7200, budget + 900)}s",
    }
    model: dict = {
        "displayName": f"genai-{plan.stack}-{manifest.model.id.split('/')[-1]}"[:128],
        "description": f"{manifest.model.id}@{manifest.model.revision} (engine "
        f"{manifest.engine_version}, code {manifest.code.digest[:12]})",
        "artifactUri": f"gs://{plan.bucket_name}/{manifest.weights.key_prefix.rstrip('/')}",
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
    model_id = model_id_for(plan.stack, {"endpoint": plan.endpoint_name, "model": model})
    immutable = {
        "machine": machine,
        "spot": cfg.spot,
        "serviceAccount": sa_email,
        "enableAccessLogging": cfg.access_logging,
    }
    return {
        "api_base": f"https://{cfg.region}-aiplatform.googleapis.com/v1",
        "project": plan.project,
        "region": cfg.region,
        "endpoint": plan.endpoint_name,
        "model_id": model_id,
        "model": model,
        "upload_service_account": sa_email,
        "deployed_model_id": deployed_model_id_for(model_id, immutable),
        "deployed_model": deployed,
        "traffic_percent": cfg.traffic_percent,
        "predict_url": predict_url(plan),
        "timeout_s": cfg.operation_timeout_minutes * 60,
        "poll_s": 15,
    }
