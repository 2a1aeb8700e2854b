"""The serving identity, least privilege: one service account per stack.

It gets ``roles/storage.objectViewer`` on the bucket *with an IAM condition* limiting it to
objects under the model prefix and listings of that prefix (``models/<digest>/``, the same
string as ``artifactUri``), plus ``roles/logging.logWriter`` and
``roles/monitoring.metricWriter`` on the project. The same account performs the model
upload (``UploadModelRequest.serviceAccount``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp.projects as projects
import pulumi_gcp.serviceaccount as serviceaccount
import pulumi_gcp.storage as storage

from infra.gcp.config import GcpPlan
from infra.gcp.scope import Scope

SERVING_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")


def service_account_id(stack: str) -> str:
    """``[a-z][a-z0-9-]{4,28}[a-z0-9]``: 6-30 characters."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"genai-vx-{stack}".lower()).strip("-")
    if len(base) > 30:
        base = f"genai-vx-{hashlib.sha256(stack.encode()).hexdigest()[:8]}"
    return base.ljust(6, "0")


def service_account_email(plan: GcpPlan) -> str:
    """Known before the account exists: the deployment and the outputs name it."""
    return f"{service_account_id(plan.stack)}@{plan.project}.iam.gserviceaccount.com"


def read_condition(plan: GcpPlan) -> storage.BucketIAMMemberConditionArgs:
    """Read and list only the prefix the ``artifactUri`` names, listed with or without its
    trailing slash."""
    prefix = plan.manifest.weights.key_prefix
    object_prefix = f"projects/_/buckets/{plan.bucket_name}/objects/{prefix}"
    list_prefix = prefix.rstrip("/")
    return storage.BucketIAMMemberConditionArgs(
        title="model-prefix-only",
        description=f"read and list only {prefix}",
        expression=(
            f'resource.name.startsWith("{object_prefix}") || '
            'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
            f'.startsWith("{prefix}") || '
            'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
            f' == "{list_prefix}"'
        ),
    )


@dataclass(frozen=True)
class ServingIdentity:
    email: str
    grants: list[pulumi.Resource]  # what a deployment running as it must wait for


def serving_identity(scope: Scope, bucket: storage.Bucket) -> ServingIdentity:
    plan = scope.plan
    account = serviceaccount.Account(
        f"{scope.name}-serving",
        account_id=service_account_id(plan.stack),
        project=plan.project,
        display_name=f"genai-endpoints {plan.stack}: Vertex AI serving",
        description="Reads the model prefix of its bucket; writes logs and metrics.",
        opts=scope.child(depends_on=scope.needs("iam.googleapis.com")),
    )
    email = service_account_email(plan)
    member = f"serviceAccount:{email}"
    read = storage.BucketIAMMember(
        f"{scope.name}-read-model-prefix",
        bucket=bucket.name,
        role="roles/storage.objectViewer",
        member=member,
        condition=read_condition(plan),
        opts=scope.child(depends_on=[account]),
    )
    grants: list[pulumi.Resource] = [read]
    for role in SERVING_ROLES:
        grants.append(
            projects.IAMMember(
                f"{scope.name}-{role.split('/')[-1].replace('.', '-').lower()}",
                project=plan.project,
                role=role,
                member=member,
                opts=scope.child(depends_on=[account]),
            )
        )
    return ServingIdentity(email=email, grants=grants)
