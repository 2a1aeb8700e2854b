"""The stack's key, its bucket (SSE-KMS, versioned, private, TLS-only, with a lifecycle
rule) and the weights in it.

The bucket holds the weights under the manifest's content-addressed prefix
(``models/<digest>/``) and, for async endpoints and data capture, the prefixes below. Its
lifecycle rule (``lifecycle.*``) aborts multipart uploads left unfinished and expires the
async prefixes; the weights are never expired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws.kms as kms
import pulumi_aws.s3 as s3
from pulumi_aws.get_caller_identity import get_caller_identity_output

from infra.aws.scope import Scope
from infra.weights import WeightsUpload

ASYNC_INPUT_PREFIX = "async/inputs/"
ASYNC_OUTPUT_PREFIX = "async/outputs/"
ASYNC_FAILURE_PREFIX = "async/failures/"
DATA_CAPTURE_PREFIX = "data-capture/"
# what the lifecycle rule expires (``lifecycle.asyncExpirationDays``)
ASYNC_PREFIXES = (ASYNC_INPUT_PREFIX, ASYNC_OUTPUT_PREFIX, ASYNC_FAILURE_PREFIX)


def encryption_key(scope: Scope) -> pulumi.Input[str] | None:
    """The key for artifacts, image and topics: created, AWS-managed (None), or given.

    A created key keeps KMS's default policy (the account's IAM decides), plus, when the
    stack creates an alarm topic, CloudWatch's use of it: alarms cannot publish to an
    encrypted topic otherwise (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns).
    """
    cfg, plan = scope.plan.settings, scope.plan
    if cfg.kms_key == "create":
        key = kms.Key(
            f"{scope.name}-key",
            description=f"genai-endpoints {plan.endpoint_name}: artifacts, image, topics",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=_key_policy(scope) if cfg.alarms.creates_topic else None,
            tags=scope.tags,
            opts=scope.child(),
        )
        return key.arn
    if cfg.kms_key == "aws-managed":
        return None
    return cfg.kms_key


@dataclass(frozen=True)
class Bucket:
    resource: s3.Bucket
    settings: list[pulumi.Resource]  # encryption, versioning, access: done before any write


def bucket(scope: Scope, key_arn: pulumi.Input[str] | None) -> Bucket:
    """The bucket, encrypted with ``key_arn`` (or S3's AWS-managed key), versioned,
    closed to the public and to plain HTTP."""
    name, cfg = scope.name, scope.plan.settings
    bucket = s3.Bucket(
        f"{name}-bucket",
        bucket=cfg.bucket_name,
        force_destroy=cfg.force_destroy,
        tags=scope.tags,
        opts=scope.child(),
    )
    sse = s3.BucketServerSideEncryptionConfiguration(
        f"{name}-bucket-sse",
        bucket=bucket.id,
        rules=[
            s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=(
                    s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key_arn
                    )
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=scope.child(),
    )
    versioning = s3.BucketVersioning(
        f"{name}-bucket-versioning",
        bucket=bucket.id,
        versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=scope.child(),
    )
    public_block = s3.BucketPublicAccessBlock(
        f"{name}-bucket-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=scope.child(),
    )
    tls_only = s3.BucketPolicy(
        f"{name}-bucket-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(_tls_only_policy),
        opts=scope.child(depends_on=[public_block]),
    )
    lifecycle(scope, bucket, versioning)
    return Bucket(bucket, [sse, versioning, public_block, tls_only])


def lifecycle(
    scope: Scope, bucket: s3.Bucket, versioning: s3.BucketVersioning
) -> s3.BucketLifecycleConfiguration:
    """The bucket's one lifecycle configuration (a second one on the same bucket would fight
    it): abort multipart uploads unfinished after ``abortIncompleteUploadDays``, everywhere
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpu-abort-incomplete-mpu-lifecycle-config.html),
    and expire the async prefixes after ``asyncExpirationDays`` — their noncurrent versions a
    day later, since the bucket is versioned (an expired or deleted object stays as one)."""
    cfg = scope.plan.settings.lifecycle
    rules = [
        s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-multipart-uploads",
            status="Enabled",
            filter=s3.BucketLifecycleConfigurationRuleFilterArgs(),  # the whole bucket
            abort_incomplete_multipart_upload=(
                s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=cfg.abort_incomplete_upload_days
                )
            ),
        )
    ]
    if cfg.async_expiration_days is not None:
        rules += [
            s3.BucketLifecycleConfigurationRuleArgs(
                id=f"expire-{prefix.strip('/').replace('/', '-')}",
                status="Enabled",
                filter=s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                expiration=s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    days=cfg.async_expiration_days
                ),
                noncurrent_version_expiration=(
                    s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=1
                    )
                ),
            )
            for prefix in ASYNC_PREFIXES
        ]
    return s3.BucketLifecycleConfiguration(
        f"{scope.name}-bucket-lifecycle",
        bucket=bucket.id,
        rules=rules,
        opts=scope.child(depends_on=[versioning]),
    )


def weights(scope: Scope, store: Bucket) -> WeightsUpload:
    """The package's weights uploaded to ``s3://<bucket>/<weights.key_prefix>`` once the
    bucket's settings are in place (content-addressed: objects already there are skipped)."""
    plan = scope.plan
    prefix = plan.manifest.weights.key_prefix
    model_uri = store.resource.bucket.apply(lambda b: f"s3://{b}/{prefix}")
    return WeightsUpload(
        f"{scope.name}-weights",
        store={"kind": "s3", "bucket": store.resource.bucket, "region": plan.settings.region},
        uri=model_uri,
        manifest=plan.manifest,
        folder=str(plan.weights_dir.resolve()),
        project_dir=str(plan.project_dir.resolve()),
        opts=scope.own(depends_on=store.settings),
    )


def _key_policy(scope: Scope) -> pulumi.Output[str]:
    """KMS's default key policy (the account root: IAM policies grant the key) plus
    CloudWatch alarms encrypting to and reading from the stack's alarm topic."""
    caller = get_caller_identity_output(opts=scope.invoke())  # arn:PARTITION:…:ACCOUNT:…
    return caller.arn.apply(
        lambda arn: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "EnableIamPolicies",
                        "Effect": "Allow",
                        "Principal": {"AWS": _root(arn)},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchAlarmsPublishToTheAlarmTopic",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                    },
                ],
            },
            sort_keys=True,
        )
    )


def _root(caller_arn: str) -> str:
    _, partition, _, _, account, _ = caller_arn.split(":", 5)
    return f"arn:{partition}:iam::{account}:root"


def _tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        sort_keys=True,
    )
