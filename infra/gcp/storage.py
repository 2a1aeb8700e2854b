"""The bucket and the weights in it, under ``gs://<bucket>/<weights.key_prefix>``.

The weights are uploaded content-addressed (:mod:`infra.weights`); Vertex hands the prefix
to the container as ``AIP_STORAGE_URI`` (the model's ``artifactUri``) and the server
downloads and verifies them at start.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp.storage as storage

from infra.gcp.config import GcpPlan
from infra.gcp.scope import Scope
from infra.weights import WeightsUpload


def artifact_uri(plan: GcpPlan) -> str:
    """The model's ``artifactUri``: the weights prefix, with its trailing slash — the same
    string the serving account's IAM condition allows reading and listing."""
    return f"gs://{plan.bucket_name}/{plan.manifest.weights.key_prefix}"


def bucket(scope: Scope, key_grants: list[pulumi.Resource]) -> storage.Bucket:
    """Private, versioned, in the endpoint's region, CMEK-encrypted when a key is set, and
    rid of multipart uploads left unfinished (``lifecycle.abortIncompleteUploadDays``:
    https://cloud.google.com/storage/docs/lifecycle#abort-mpu; a resumable upload must
    complete within a week of being initiated anyway:
    https://cloud.google.com/storage/docs/resumable-uploads)."""
    plan, cfg = scope.plan, scope.plan.settings
    return storage.Bucket(
        f"{scope.name}-bucket",
        name=plan.bucket_name,
        project=plan.project,
        location=cfg.region.upper(),  # Vertex reads artifacts from a bucket in its region
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=storage.BucketVersioningArgs(enabled=True),
        encryption=(
            storage.BucketEncryptionArgs(default_kms_key_name=cfg.kms_key) if cfg.kms_key else None
        ),
        force_destroy=cfg.force_destroy,
        lifecycle_rules=[
            storage.BucketLifecycleRuleArgs(
                action=storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                condition=storage.BucketLifecycleRuleConditionArgs(
                    age=cfg.lifecycle.abort_incomplete_upload_days
                ),
            )
        ],
        labels=scope.labels,
        opts=scope.child(depends_on=[*scope.needs("storage.googleapis.com"), *key_grants]),
    )


def upload_weights(scope: Scope, into: storage.Bucket) -> WeightsUpload:
    plan = scope.plan
    prefix = plan.manifest.weights.key_prefix
    return WeightsUpload(
        f"{scope.name}-weights",
        store={"kind": "gs", "bucket": into.name, "project": plan.project},
        uri=into.name.apply(lambda b: f"gs://{b}/{prefix}"),
        manifest=plan.manifest,
        folder=str(plan.weights_dir.resolve()),
        project_dir=str(plan.project_dir.resolve()),
        opts=scope.own(depends_on=[into]),
    )
