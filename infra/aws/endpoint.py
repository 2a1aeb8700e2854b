"""One SageMaker endpoint with its bucket, key, role, alarms and autoscaling.

Weights are *referenced*: ``genai-endpoints upload`` puts them under
``s3://<bucket>/<weights.key_prefix>`` (``models/<digest>/``) and the model reads that prefix
uncompressed (``ModelDataSource`` S3Prefix, CompressionType None), so SageMaker copies it to
``/opt/ml/model/``. The small code folder is uploaded by Pulumi to
``<weights.key_prefix>code/`` — inside the same prefix — so the container finds
``/opt/ml/model/code/inference.py`` (``SAGEMAKER_PROGRAM``) next to the weights without
copying or archiving them. Each code object carries its sha256 and the code digest, and the
code digest is part of the model's environment, so a code change replaces the Model and
rolls out through the endpoint's blue/green policy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws.appautoscaling as appautoscaling
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.iam as iam
import pulumi_aws.kms as kms
import pulumi_aws.s3 as s3
import pulumi_aws.sagemaker as sagemaker
import pulumi_aws.sns as sns
from pulumi_aws.get_caller_identity import get_caller_identity_output
from pulumi_aws.provider import Provider

from infra.aws.config import AwsPlan

TYPE_TOKEN = "genai-endpoints:aws:SageMakerEndpoint"
VARIANT = "primary"  # blue/green needs the same variant name across endpoint configs
ASYNC_INPUT_PREFIX = "async/inputs/"
ASYNC_OUTPUT_PREFIX = "async/outputs/"
ASYNC_FAILURE_PREFIX = "async/failures/"
DATA_CAPTURE_PREFIX = "data-capture/"
# Actions AWS only grants on Resource "*" (no resource-level permissions exist for them).
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "cloudwatch:PutMetricData",
        "ecr:GetAuthorizationToken",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    }
)
_CanarySize = (
    sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs
)
_LinearSize = sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSizeArgs  # noqa: E501


@dataclass(frozen=True)
class SageMakerEndpointArgs:
    plan: AwsPlan
    task: str
    tags: dict[str, str]
    hub_token: pulumi.Output[str] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def ecr_repository_arn(image: str, partition: str) -> str | None:
    """``arn:…:ecr:<region>:<account>:repository/<name>`` of an ECR image URI, else None."""
    m = re.fullmatch(
        r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?:[:@].+)?", image
    )
    if not m:
        return None
    account, region, repo = m.groups()
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repo}"


def code_key_prefix(weights_folder: str, code_folder: str, key_prefix: str) -> str:
    """Where the code goes so the container sees it at ``/opt/ml/model/code/``.

    The SageMaker package keeps its code inside the weights folder (``model/code``), and
    ``genai-endpoints upload`` mirrors that layout below ``weights.key_prefix``; a package
    whose code sits elsewhere still gets it at ``<key_prefix>code/``.
    """
    w, c = weights_folder.strip("/"), code_folder.strip("/")
    if c.startswith(w + "/"):
        return f"{key_prefix}{c[len(w) + 1 :]}/"
    return f"{key_prefix}code/"


def _volume_gb(size_bytes: int) -> int:
    """EBS volume for instance types without NVMe storage: weights twice over plus room."""
    return min(512, max(30, int(2 * size_bytes / 1e9) + 30))


def download_timeout_s(size_bytes: int) -> int:
    """ModelDataDownloadTimeoutInSeconds: ~50 MB/s from S3 (conservative), 10 min floor."""
    return min(3600, max(600, int(size_bytes / 50e6) * 2 + 300))


def startup_timeout_s(size_bytes: int) -> int:
    """ContainerStartupHealthCheckTimeoutInSeconds: load to GPU + pip pins + warm-up."""
    return min(3600, max(600, int(size_bytes / 1e9) * 30 + 600))


class SageMakerEndpoint(pulumi.ComponentResource):
    """Bucket (SSE-KMS, versioned, private, TLS-only), role, model, endpoint, alarms, scaling."""

    endpoint_name: pulumi.Output[str]
    endpoint_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: SageMakerEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._backlog_alarm: cloudwatch.MetricAlarm | None = None
        plan = args.plan
        cfg = plan.settings
        manifest = plan.manifest
        tags = dict(args.tags)
        region = cfg.region
        partition = partition_of(region)
        is_async = plan.mode == "async"

        provider = Provider(
            f"{name}-provider", region=region, opts=pulumi.ResourceOptions(parent=self)
        )

        def child(**kw) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, **kw)

        account_id = get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        ).account_id

        # ---------------------------------------------------------------- encryption key
        key_arn: pulumi.Input[str] | None
        if cfg.kms_key == "create":
            key = kms.Key(
                f"{name}-key",
                description=f"genai-endpoints {plan.endpoint_name}: artifacts, outputs, topics",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                tags=tags,
                opts=child(),
            )
            key_arn = key.arn
        elif cfg.kms_key == "aws-managed":
            key_arn = None
        else:
            key_arn = cfg.kms_key

        # ---------------------------------------------------------------- bucket
        bucket = s3.Bucket(
            f"{name}-bucket",
            bucket=cfg.bucket_name,
            force_destroy=cfg.force_destroy,
            tags=tags,
            opts=child(),
        )
        s3.BucketServerSideEncryptionConfiguration(
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
            opts=child(),
        )
        s3.BucketVersioning(
            f"{name}-bucket-versioning",
            bucket=bucket.id,
            versioning_configuration=s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child(),
        )
        public_block = s3.BucketPublicAccessBlock(
            f"{name}-bucket-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(),
        )
        s3.BucketPolicy(
            f"{name}-bucket-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(_tls_only_policy),
            opts=child(depends_on=[public_block]),
        )

        # ---------------------------------------------------------------- code objects
        prefix = manifest.weights.key_prefix
        code_prefix = code_key_prefix(manifest.weights.folder, manifest.code.folder, prefix)
        code_objects = []
        for entry in manifest.code.files:
            safe = re.sub(r"[^A-Za-z0-9]+", "-", entry.path).strip("-")
            code_objects.append(
                s3.BucketObjectv2(
                    f"{name}-code-{safe}",
                    bucket=bucket.id,
                    key=f"{code_prefix}{entry.path}",
                    source=pulumi.FileAsset(str(plan.code_dir / entry.path)),
                    server_side_encryption="aws:kms",
                    kms_key_id=key_arn,
                    metadata={"sha256": entry.sha256, "code-digest": manifest.code.digest},
                    tags=tags,
                    opts=child(),
                )
            )

        # ---------------------------------------------------------------- topics (async)
        success_topic = error_topic = None
        if is_async:
            topic_key = key_arn if key_arn is not None else "alias/aws/sns"
            success_topic = sns.Topic(
                f"{name}-success", kms_master_key_id=topic_key, tags=tags, opts=child()
            )
            error_topic = sns.Topic(
                f"{name}-error", kms_master_key_id=topic_key, tags=tags, opts=child()
            )

        # ---------------------------------------------------------------- role
        role = iam.Role(
            f"{name}-role",
            description=f"SageMaker execution role for {plan.endpoint_name}",
            assume_role_policy=account_id.apply(_assume_role_policy),
            max_session_duration=3600,
            tags=tags,
            opts=child(),
        )
        policy_inputs = {
            "bucket_arn": bucket.arn,
            "account": account_id,
            "key_arn": key_arn,
            "topics": [t.arn for t in (success_topic, error_topic) if t is not None],
        }
        static = {
            "partition": partition,
            "region": region,
            "prefix": prefix,
            "endpoint": plan.endpoint_name,
            "ecr_repo": ecr_repository_arn(manifest.serving.image, partition),
            "is_async": is_async,
            "data_capture": cfg.data_capture.enabled,
            "subnets": list(cfg.network.subnet_ids),
            "security_groups": list(cfg.network.security_group_ids),
        }
        role_policy = iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.all(**policy_inputs).apply(
                lambda v: json.dumps(execution_policy(**v, **static), sort_keys=True)
            ),
            opts=child(),
        )

        # ---------------------------------------------------------------- model
        env = self._environment(args, plan)
        environment: dict[str, pulumi.Input[str]] = dict(env)
        if args.hub_token is not None:
            environment["HF_TOKEN"] = pulumi.Output.secret(args.hub_token)
        vpc = None
        if cfg.network.subnet_ids:
            vpc = sagemaker.ModelVpcConfigArgs(
                subnets=list(cfg.network.subnet_ids),
                security_group_ids=list(cfg.network.security_group_ids),
            )
        model_uri = bucket.bucket.apply(lambda b: f"s3://{b}/{prefix}")

        self.bucket_name = bucket.bucket
        outputs: dict[str, pulumi.Input] = {
            "bucket": bucket.bucket,
            "role_arn": role.arn,
            "model_data": model_uri,
            "weights_prefix": prefix,
        }
        if not cfg.deploy_endpoint:
            self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
            self.endpoint_arn = pulumi.Output.from_input("")
            self.register_outputs(outputs)
            return

        model = sagemaker.Model(
            f"{name}-model",
            execution_role_arn=role.arn,
            primary_container=sagemaker.ModelPrimaryContainerArgs(
                image=manifest.serving.image,
                mode="SingleModel",
                environment=environment,
                model_data_source=sagemaker.ModelPrimaryContainerModelDataSourceArgs(
                    s3_data_sources=[
                        sagemaker.ModelPrimaryContainerModelDataSourceS3DataSourceArgs(
                            s3_uri=model_uri,
                            s3_data_type="S3Prefix",
                            compression_type="None",
                        )
                    ]
                ),
            ),
            enable_network_isolation=cfg.network.isolation,
            vpc_config=vpc,
            tags=tags,
            opts=child(depends_on=[role_policy, *code_objects]),
        )

        # ---------------------------------------------------------------- endpoint config
        size = manifest.model.size_bytes
        variant = sagemaker.EndpointConfigurationProductionVariantArgs(
            variant_name=VARIANT,
            model_name=model.name,
            instance_type=plan.instance.name,
            initial_instance_count=plan.initial_instances,
            initial_variant_weight=1.0,
            container_startup_health_check_timeout_in_seconds=startup_timeout_s(size),
            model_data_download_timeout_in_seconds=download_timeout_s(size),
            # Types with NVMe instance storage refuse VolumeSizeInGB (and a volume KMS key).
            volume_size_in_gb=None if plan.instance.local_storage_gb else _volume_gb(size),
        )
        bucket_uri = bucket.bucket.apply(lambda b: f"s3://{b}/")
        async_config = None
        if is_async:
            assert success_topic is not None and error_topic is not None
            async_config = sagemaker.EndpointConfigurationAsyncInferenceConfigArgs(
                output_config=sagemaker.EndpointConfigurationAsyncInferenceConfigOutputConfigArgs(
                    s3_output_path=bucket_uri.apply(lambda u: u + ASYNC_OUTPUT_PREFIX),
                    s3_failure_path=bucket_uri.apply(lambda u: u + ASYNC_FAILURE_PREFIX),
                    kms_key_id=key_arn,
                    notification_config=sagemaker.EndpointConfigurationAsyncInferenceConfigOutputConfigNotificationConfigArgs(
                        success_topic=success_topic.arn,
                        error_topic=error_topic.arn,
                        include_inference_response_ins=[
                            "SUCCESS_NOTIFICATION_TOPIC",
                            "ERROR_NOTIFICATION_TOPIC",
                        ],
                    ),
                ),
                client_config=sagemaker.EndpointConfigurationAsyncInferenceConfigClientConfigArgs(
                    max_concurrent_invocations_per_instance=cfg.max_concurrent_invocations
                ),
            )
        capture = None
        if cfg.data_capture.enabled:
            capture = sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                enable_capture=True,
                initial_sampling_percentage=cfg.data_capture.sampling_percent,
                destination_s3_uri=bucket_uri.apply(lambda u: u + DATA_CAPTURE_PREFIX),
                kms_key_id=key_arn,
                capture_options=[
                    sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                        capture_mode="Input"
                    ),
                    sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(
                        capture_mode="Output"
                    ),
                ],
            )
        endpoint_config = sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=[variant],
            async_inference_config=async_config,
            data_capture_config=capture,
            kms_key_arn=None if plan.instance.local_storage_gb else key_arn,
            tags=tags,
            opts=child(),
        )

        # ---------------------------------------------------------------- alarms
        alarms = self._alarms(name, plan, tags, child) if cfg.alarms.enabled else []
        # Backlog grows while a new fleet warms up: it alerts, it does not roll back.
        guards = [a for a in alarms if a is not self._backlog_alarm]

        # ---------------------------------------------------------------- endpoint
        deployment = self._deployment_config(plan, guards)
        endpoint = sagemaker.Endpoint(
            f"{name}-endpoint",
            name=plan.endpoint_name,
            endpoint_config_name=endpoint_config.name,
            deployment_config=deployment,
            tags=tags,
            opts=child(depends_on=list(alarms)),
        )

        # ---------------------------------------------------------------- autoscaling
        target = appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=endpoint.name.apply(lambda n: f"endpoint/{n}/variant/{VARIANT}"),
            min_capacity=cfg.min_instances,
            max_capacity=cfg.max_instances,
            tags=tags,
            opts=child(),
        )
        if is_async:
            self._async_scaling(name, plan, target, tags, child)
        else:
            appautoscaling.Policy(
                f"{name}-invocations-per-instance",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=float(cfg.target_invocations_per_instance),
                    predefined_metric_specification=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                    ),
                    scale_in_cooldown=cfg.scale_in_cooldown_seconds,
                    scale_out_cooldown=cfg.scale_out_cooldown_seconds,
                ),
                opts=child(),
            )

        self.endpoint_name = endpoint.name
        self.endpoint_arn = endpoint.arn
        outputs.update(endpoint_name=endpoint.name, endpoint_arn=endpoint.arn)
        self.register_outputs(outputs)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _environment(args: SageMakerEndpointArgs, plan: AwsPlan) -> dict[str, str]:
        manifest = plan.manifest
        env = {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": str(plan.model_server_timeout_s),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        }
        env.update(manifest.serving.env)  # the package knows its container best
        limit = manifest.limit(plan.mode)
        env.update(
            {
                "GENAI_TASK": args.task,
                "GENAI_MODE": plan.mode,
                "GENAI_MODEL_ID": manifest.model.id,
                "GENAI_MODEL_REVISION": manifest.model.revision,
                "GENAI_MODEL_DIGEST": manifest.model.digest,
                "GENAI_CODE_DIGEST": manifest.code.digest,
                "GENAI_TIMEOUT_S": str(plan.model_server_timeout_s),
            }
        )
        if limit is not None:
            env["GENAI_MAX_REQUEST_BYTES"] = str(limit.max_request_bytes)
            if limit.max_response_bytes is not None:
                env["GENAI_MAX_RESPONSE_BYTES"] = str(limit.max_response_bytes)
        env.update(args.extra_env)
        return env

    def _alarms(self, name, plan: AwsPlan, tags, child) -> list[cloudwatch.MetricAlarm]:
        a = plan.settings.alarms
        ep = plan.endpoint_name
        dims = {"EndpointName": ep, "VariantName": VARIANT}
        common = dict(
            namespace="AWS/SageMaker",
            period=a.period_seconds,
            evaluation_periods=a.evaluation_periods,
            datapoints_to_alarm=min(2, a.evaluation_periods),
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            tags=tags,
        )
        alarms = [
            cloudwatch.MetricAlarm(
                f"{name}-5xx",
                name=f"{ep}-5xx-rate",
                alarm_description=f"{ep}: share of invocations answered 5xx",
                metric_name="Invocation5XXErrors",
                statistic="Average",
                threshold=a.error5xx_rate,
                dimensions=dims,
                opts=child(),
                **common,
            ),
            cloudwatch.MetricAlarm(
                f"{name}-4xx",
                name=f"{ep}-4xx-rate",
                alarm_description=f"{ep}: share of invocations answered 4xx",
                metric_name="Invocation4XXErrors",
                statistic="Average",
                threshold=a.error4xx_rate,
                dimensions=dims,
                opts=child(),
                **common,
            ),
            cloudwatch.MetricAlarm(
                f"{name}-latency",
                name=f"{ep}-model-latency-p90",
                alarm_description=f"{ep}: p90 model latency (microseconds)",
                metric_name="ModelLatency",
                extended_statistic="p90",
                threshold=a.latency_p90_seconds * 1e6,
                dimensions=dims,
                opts=child(),
                **common,
            ),
        ]
        self._backlog_alarm = None
        if plan.mode == "async":
            self._backlog_alarm = cloudwatch.MetricAlarm(
                f"{name}-backlog",
                name=f"{ep}-backlog",
                alarm_description=f"{ep}: queued async requests",
                metric_name="ApproximateBacklogSize",
                statistic="Average",
                threshold=float(a.backlog),
                dimensions={"EndpointName": ep},
                opts=child(),
                **common,
            )
            alarms.append(self._backlog_alarm)
        return alarms

    @staticmethod
    def _deployment_config(plan: AwsPlan, guards) -> sagemaker.EndpointDeploymentConfigArgs | None:
        d = plan.settings.deployment
        rollback = None
        if d.auto_rollback and guards:
            rollback = sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                alarms=[
                    sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(
                        alarm_name=a.name
                    )
                    for a in guards
                ]
            )
        canary = _CanarySize(type="CAPACITY_PERCENT", value=d.step_percent)
        linear = _LinearSize(type="CAPACITY_PERCENT", value=d.step_percent)
        routing = (
            sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
                type={"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}[
                    d.strategy
                ],
                wait_interval_in_seconds=d.wait_seconds,
                canary_size=canary if d.strategy == "canary" else None,
                linear_step_size=linear if d.strategy == "linear" else None,
            )
        )
        steps = 1 if d.strategy != "linear" else -(-100 // d.step_percent)
        return sagemaker.EndpointDeploymentConfigArgs(
            blue_green_update_policy=sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
                traffic_routing_configuration=routing,
                termination_wait_in_seconds=d.termination_wait_seconds,
                maximum_execution_timeout_in_seconds=min(
                    28800,
                    max(
                        600,
                        startup_timeout_s(plan.manifest.model.size_bytes) * 2
                        + d.wait_seconds * (steps + 1)
                        + d.termination_wait_seconds,
                    ),
                ),
            ),
            auto_rollback_configuration=rollback,
        )

    def _async_scaling(self, name, plan: AwsPlan, target, tags, child) -> None:
        cfg = plan.settings
        ep = plan.endpoint_name
        appautoscaling.Policy(
            f"{name}-backlog-per-instance",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=float(cfg.backlog_per_instance),
                customized_metric_specification=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs(
                    metric_name="ApproximateBacklogSizePerInstance",
                    namespace="AWS/SageMaker",
                    statistic="Average",
                    dimensions=[
                        appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensionArgs(
                            name="EndpointName", value=ep
                        )
                    ],
                ),
                scale_in_cooldown=cfg.scale_in_cooldown_seconds,
                scale_out_cooldown=cfg.scale_out_cooldown_seconds,
            ),
            opts=child(),
        )
        if cfg.min_instances > 0:
            return
        # Target tracking cannot leave zero (no instance, no per-instance metric): a step
        # policy on HasBacklogWithoutCapacity adds the first instance.
        wake = appautoscaling.Policy(
            f"{name}-wake-from-zero",
            policy_type="StepScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            step_scaling_policy_configuration=appautoscaling.PolicyStepScalingPolicyConfigurationArgs(
                adjustment_type="ChangeInCapacity",
                metric_aggregation_type="Average",
                cooldown=cfg.scale_out_cooldown_seconds,
                step_adjustments=[
                    appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs(
                        metric_interval_lower_bound="0", scaling_adjustment=1
                    )
                ],
            ),
            opts=child(),
        )
        cloudwatch.MetricAlarm(
            f"{name}-has-backlog-without-capacity",
            name=f"{ep}-has-backlog-without-capacity",
            alarm_description=f"{ep}: requests queued while scaled to zero; adds an instance",
            namespace="AWS/SageMaker",
            metric_name="HasBacklogWithoutCapacity",
            statistic="Average",
            dimensions={"EndpointName": ep},
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            threshold=1.0,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="missing",
            alarm_actions=[wake.arn],
            tags=tags,
            opts=child(),
        )


# ---------------------------------------------------------------------- policy documents


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


def _assume_role_policy(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        },
        sort_keys=True,
    )


def execution_policy(
    *,
    bucket_arn: str,
    account: str,
    key_arn: str | None,
    topics: list[str],
    partition: str,
    region: str,
    prefix: str,
    endpoint: str,
    ecr_repo: str | None,
    is_async: bool,
    data_capture: bool,
    subnets: list[str],
    security_groups: list[str],
) -> dict:
    """Least-privilege policy for the endpoint's execution role (a plain dict, testable)."""
    log_group = (
        f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
    )
    statements: list[dict] = [
        {
            "Sid": "ReadModelPrefix",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{bucket_arn}/{prefix}*"],
        },
        {
            "Sid": "ListModelPrefix",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        },
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
            ],
            "Resource": [log_group, f"{log_group}:*"],
        },
        {
            "Sid": "Metrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": ["*"],
            "Condition": {
                "StringLike": {"cloudwatch:namespace": ["AWS/SageMaker", "/aws/sagemaker/*"]}
            },
        },
        {
            "Sid": "EcrAuth",
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": ["*"],
        },
    ]
    if ecr_repo:
        statements.append(
            {
                "Sid": "PullServingImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": [ecr_repo],
            }
        )
    writes = []
    if is_async:
        writes += [f"{bucket_arn}/{ASYNC_OUTPUT_PREFIX}*", f"{bucket_arn}/{ASYNC_FAILURE_PREFIX}*"]
        statements.append(
            {
                "Sid": "ReadAsyncInputs",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket_arn}/{ASYNC_INPUT_PREFIX}*"],
            }
        )
    if data_capture:
        writes.append(f"{bucket_arn}/{DATA_CAPTURE_PREFIX}*")
    if writes:
        statements.append(
            {
                "Sid": "WriteOutputs",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": writes,
            }
        )
    if topics:
        statements.append(
            {
                "Sid": "PublishOwnTopics",
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "Resource": topics,
            }
        )
    if key_arn:
        statements.append(
            {
                "Sid": "UseStackKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": [key_arn],
            }
        )
    if subnets:
        ec2 = f"arn:{partition}:ec2:{region}:{account}"
        statements += [
            {
                "Sid": "VpcDescribe",
                "Effect": "Allow",
                "Action": sorted(a for a in STAR_RESOURCE_ACTIONS if a.startswith("ec2:")),
                "Resource": ["*"],
            },
            {
                "Sid": "VpcInterfaces",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                ],
                "Resource": [f"{ec2}:network-interface/*"]
                + [f"{ec2}:subnet/{s}" for s in subnets]
                + [f"{ec2}:security-group/{g}" for g in security_groups],
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}
