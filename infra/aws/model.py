"""The SageMaker model (the image as ``repo@sha256:…``, the weights prefix as uncompressed
``S3Prefix`` model data that SageMaker copies to ``/opt/ml/model``) and its endpoint config
(the variant, async outputs and their topics, data capture)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws.iam as iam
import pulumi_aws.s3 as s3
import pulumi_aws.sagemaker as sagemaker
import pulumi_aws.sns as sns

from infra.aws.config import AwsPlan, download_timeout_s, startup_timeout_s
from infra.aws.scope import Scope
from infra.aws.storage import ASYNC_FAILURE_PREFIX, ASYNC_OUTPUT_PREFIX, DATA_CAPTURE_PREFIX
from infra.serving import container_env
from infra.weights import WeightsUpload

VARIANT = "primary"  # blue/green needs the same variant name across endpoint configs


def environment(plan: AwsPlan, task: str, extra_env: dict[str, str]) -> dict[str, str]:
    """The container's environment: the package's, then what the plan owns (timeouts,
    sizes, mode), so a package cannot stretch the 60 s real-time limit."""
    limit = plan.manifest.limit(plan.mode)
    extra = {"GENAI_MODE": plan.mode, **extra_env}
    if limit is not None and limit.max_response_bytes is not None:
        extra["GENAI_MAX_RESPONSE_BYTES"] = str(limit.max_response_bytes)
    return container_env(
        plan.manifest,
        "sagemaker",
        task=task,
        timeout_s=plan.timeout_s,
        max_request_bytes=limit.max_request_bytes if limit else None,
        gpu=plan.instance.gpu_count > 0,
        extra=extra,
        speed=plan.settings.speed,
        engine=plan.engine_env,
    )


def _volume_gb(size_bytes: int) -> int:
    """EBS volume for instance types without NVMe storage: weights twice over plus room."""
    return min(512, max(30, int(2 * size_bytes / 1e9) + 30))


@dataclass(frozen=True)
class Topics:
    """Where an async endpoint announces each finished or failed request."""

    success: sns.Topic
    error: sns.Topic


def async_topics(scope: Scope, key_arn: pulumi.Input[str] | None) -> Topics | None:
    """The success and error topics of an async endpoint (None for real-time)."""
    if scope.plan.mode != "async":
        return None
    topic_key = key_arn if key_arn is not None else "alias/aws/sns"
    return Topics(
        success=sns.Topic(
            f"{scope.name}-success",
            kms_master_key_id=topic_key,
            tags=scope.tags,
            opts=scope.child(),
        ),
        error=sns.Topic(
            f"{scope.name}-error", kms_master_key_id=topic_key, tags=scope.tags, opts=scope.child()
        ),
    )


def model(
    scope: Scope,
    *,
    environment_vars: dict[str, pulumi.Input[str]],
    image: pulumi.Input[str],
    role: iam.Role,
    role_policy: iam.RolePolicy,
    weights: WeightsUpload,
) -> sagemaker.Model:
    """The model: created once the role may read the weights and the weights are there."""
    cfg = scope.plan.settings
    vpc = None
    if cfg.network.subnet_ids:
        vpc = sagemaker.ModelVpcConfigArgs(
            subnets=list(cfg.network.subnet_ids),
            security_group_ids=list(cfg.network.security_group_ids),
        )
    return sagemaker.Model(
        f"{scope.name}-model",
        execution_role_arn=role.arn,
        primary_container=sagemaker.ModelPrimaryContainerArgs(
            image=image,
            mode="SingleModel",
            environment=environment_vars,
            model_data_source=sagemaker.ModelPrimaryContainerModelDataSourceArgs(
                s3_data_sources=[
                    sagemaker.ModelPrimaryContainerModelDataSourceS3DataSourceArgs(
                        s3_uri=weights.uri,
                        s3_data_type="S3Prefix",
                        compression_type="None",
                    )
                ]
            ),
        ),
        enable_network_isolation=cfg.network.isolation,
        vpc_config=vpc,
        tags=scope.tags,
        opts=scope.child(depends_on=[role_policy, weights]),
    )


def endpoint_config(
    scope: Scope,
    *,
    model: sagemaker.Model,
    bucket: s3.Bucket,
    key_arn: pulumi.Input[str] | None,
    topics: Topics | None,
) -> sagemaker.EndpointConfiguration:
    """The endpoint config: one variant of the model, plus async outputs and data capture
    written under the bucket's prefixes."""
    plan = scope.plan
    bucket_uri = bucket.bucket.apply(lambda b: f"s3://{b}/")
    return sagemaker.EndpointConfiguration(
        f"{scope.name}-config",
        production_variants=[_variant(plan, model)],
        async_inference_config=_async_config(plan, bucket_uri, key_arn, topics),
        data_capture_config=_capture(plan, bucket_uri, key_arn),
        kms_key_arn=None if plan.instance.local_storage_gb else key_arn,
        tags=scope.tags,
        opts=scope.child(),
    )


def _variant(
    plan: AwsPlan, model: sagemaker.Model
) -> sagemaker.EndpointConfigurationProductionVariantArgs:
    size = plan.manifest.model.size_bytes
    return sagemaker.EndpointConfigurationProductionVariantArgs(
        variant_name=VARIANT,
        model_name=model.name,
        instance_type=plan.instance.name,
        # the host's NVIDIA driver must run the image's CUDA build (infra/aws/ami.py)
        inference_ami_version=plan.ami.version,
        initial_instance_count=plan.initial_instances,
        initial_variant_weight=1.0,
        container_startup_health_check_timeout_in_seconds=startup_timeout_s(size),
        model_data_download_timeout_in_seconds=download_timeout_s(size),
        # Types with NVMe instance storage refuse VolumeSizeInGB (and a volume KMS key).
        volume_size_in_gb=None if plan.instance.local_storage_gb else _volume_gb(size),
    )


def _async_config(
    plan: AwsPlan,
    bucket_uri: pulumi.Output[str],
    key_arn: pulumi.Input[str] | None,
    topics: Topics | None,
) -> sagemaker.EndpointConfigurationAsyncInferenceConfigArgs | None:
    if plan.mode != "async":
        return None
    assert topics is not None
    return sagemaker.EndpointConfigurationAsyncInferenceConfigArgs(
        output_config=sagemaker.EndpointConfigurationAsyncInferenceConfigOutputConfigArgs(
            s3_output_path=bucket_uri.apply(lambda u: u + ASYNC_OUTPUT_PREFIX),
            s3_failure_path=bucket_uri.apply(lambda u: u + ASYNC_FAILURE_PREFIX),
            kms_key_id=key_arn,
            notification_config=sagemaker.EndpointConfigurationAsyncInferenceConfigOutputConfigNotificationConfigArgs(
                success_topic=topics.success.arn,
                error_topic=topics.error.arn,
                include_inference_response_ins=[
                    "SUCCESS_NOTIFICATION_TOPIC",
                    "ERROR_NOTIFICATION_TOPIC",
                ],
            ),
        ),
        client_config=sagemaker.EndpointConfigurationAsyncInferenceConfigClientConfigArgs(
            max_concurrent_invocations_per_instance=plan.settings.max_concurrent_invocations
        ),
    )


def _capture(
    plan: AwsPlan, bucket_uri: pulumi.Output[str], key_arn: pulumi.Input[str] | None
) -> sagemaker.EndpointConfigurationDataCaptureConfigArgs | None:
    capture = plan.settings.data_capture
    if not capture.enabled:
        return None
    return sagemaker.EndpointConfigurationDataCaptureConfigArgs(
        enable_capture=True,
        initial_sampling_percentage=capture.sampling_percent,
        destination_s3_uri=bucket_uri.apply(lambda u: u + DATA_CAPTURE_PREFIX),
        kms_key_id=key_arn,
        capture_options=[
            sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input"),
            sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                capture_mode="Output"
            ),
        ],
    )
