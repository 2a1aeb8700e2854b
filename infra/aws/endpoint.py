"""One SageMaker endpoint with its bucket, key, registry, image, role, alarms and scaling.

One ``pulumi up`` goes from nothing to a serving endpoint, in dependency order: the bucket
(SSE-KMS, versioned, private, TLS-only) and the ECR repository; the weights uploaded to
``s3://<bucket>/<weights.key_prefix>`` (``models/<digest>/``, content-addressed, skipping
objects already there: :mod:`infra.weights`) and the runtime image built and pushed by digest
(:mod:`infra.runtime`) — both in parallel; then the model (the image as ``repo@sha256:…``,
the prefix as uncompressed ``S3Prefix`` model data that SageMaker copies to
``/opt/ml/model``), the endpoint config, the alarms, and the endpoint, rolled out blue/green
by :mod:`infra.aws.rollout` (the live instance count is kept). A new image or new weights is
a new model, a new endpoint config and a rollout; nothing is installed at container start,
so ``network.isolation`` (no network at all for the container) is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws.appautoscaling as appautoscaling
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.ecr as ecr
import pulumi_aws.iam as iam
import pulumi_aws.kms as kms
import pulumi_aws.s3 as s3
import pulumi_aws.sagemaker as sagemaker
import pulumi_aws.sns as sns
from pulumi_aws.get_caller_identity import get_caller_identity_output
from pulumi_aws.provider import Provider

from infra.aws.config import AwsPlan, download_timeout_s, startup_timeout_s
from infra.aws.rollout import SageMakerEndpointDeployment
from infra.runtime import IMAGE_NAME, pushed_image
from infra.serving import container_env
from infra.weights import WeightsUpload

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


@dataclass(frozen=True)
class SageMakerEndpointArgs:
    plan: AwsPlan
    task: str
    tags: dict[str, str]
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


def repository_name(endpoint_name: str) -> str:
    """ECR repository name: lowercase, ``[a-z0-9._/-]``."""
    return f"{endpoint_name.lower()}/{IMAGE_NAME}"


def _volume_gb(size_bytes: int) -> int:
    """EBS volume for instance types without NVMe storage: weights twice over plus room."""
    return min(512, max(30, int(2 * size_bytes / 1e9) + 30))


def environment(args: SageMakerEndpointArgs) -> dict[str, str]:
    """The container's environment: the package's, then what the plan owns (timeouts,
    sizes, mode), so a package cannot stretch the 60 s real-time limit."""
    plan = args.plan
    limit = plan.manifest.limit(plan.mode)
    extra = {"GENAI_MODE": plan.mode, **args.extra_env}
    if limit is not None and limit.max_response_bytes is not None:
        extra["GENAI_MAX_RESPONSE_BYTES"] = str(limit.max_response_bytes)
    return container_env(
        plan.manifest,
        "sagemaker",
        task=args.task,
        timeout_s=plan.timeout_s,
        max_request_bytes=limit.max_request_bytes if limit else None,
        extra=extra,
        speed=plan.settings.speed,
        engine=plan.engine_env,
    )


def deployment_config(plan: AwsPlan, guard_names: list[str]) -> dict:
    """The endpoint's ``DeploymentConfig`` (API shape): blue/green in whole instances."""
    d = plan.settings.deployment
    routing: dict = {
        "Type": {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}[d.strategy],
        "WaitIntervalInSeconds": d.wait_seconds,
    }
    step = {"Type": "INSTANCE_COUNT", "Value": d.step_instances}
    if d.strategy == "canary":
        routing["CanarySize"] = step
    elif d.strategy == "linear":
        routing["LinearStepSize"] = step
    config: dict = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": d.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": plan.rollout.max_execution_s,
        }
    }
    if d.auto_rollback and guard_names:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": n} for n in guard_names]}
    return config


class SageMakerEndpoint(pulumi.ComponentResource):
    """Bucket, registry, image, weights, role, model, endpoint, alarms, scaling."""

    endpoint_name: pulumi.Output[str]
    endpoint_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    image: pulumi.Output[str]
    success_topic_arn: pulumi.Output[str] | None
    error_topic_arn: pulumi.Output[str] | None

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

        def own(**kw) -> pulumi.ResourceOptions:
            """Options for this component's non-AWS children (dynamic, docker-build)."""
            return pulumi.ResourceOptions(parent=self, **kw)

        account_id = get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        ).account_id

        # ---------------------------------------------------------------- encryption key
        key_arn: pulumi.Input[str] | None
        if cfg.kms_key == "create":
            key = kms.Key(
                f"{name}-key",
                description=f"genai-endpoints {plan.endpoint_name}: artifacts, image, topics",
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
            opts=child(),
        )
        versioning = s3.BucketVersioning(
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
        tls_only = s3.BucketPolicy(
            f"{name}-bucket-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(_tls_only_policy),
            opts=child(depends_on=[public_block]),
        )

        # ---------------------------------------------------------------- weights
        prefix = manifest.weights.key_prefix
        model_uri = bucket.bucket.apply(lambda b: f"s3://{b}/{prefix}")
        weights = WeightsUpload(
            f"{name}-weights",
            store={"kind": "s3", "bucket": bucket.bucket, "region": region},
            uri=model_uri,
            manifest=manifest,
            folder=str(plan.weights_dir.resolve()),
            project_dir=str(plan.project_dir.resolve()),
            opts=own(depends_on=[sse, versioning, public_block, tls_only]),
        )

        # ---------------------------------------------------------------- runtime image
        ecr_repo: pulumi.Input[str] | None
        if plan.image.pinned:
            image_ref: pulumi.Output[str] = pulumi.Output.from_input(plan.image.pinned)
            ecr_repo = ecr_repository_arn(plan.image.pinned, partition)
        else:
            repo = ecr.Repository(
                f"{name}-registry",
                name=repository_name(plan.endpoint_name),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=True
                ),
                encryption_configurations=[
                    ecr.RepositoryEncryptionConfigurationArgs(
                        encryption_type="KMS" if key_arn is not None else "AES256",
                        kms_key=key_arn,
                    )
                ],
                force_delete=cfg.force_destroy,
                tags=tags,
                opts=child(),
            )
            token = ecr.get_authorization_token_output(
                registry_id=repo.registry_id,
                opts=pulumi.InvokeOutputOptions(parent=self, provider=provider),
            )
            import pulumi_docker_build as docker_build

            registry = docker_build.RegistryArgs(
                address=repo.repository_url.apply(lambda u: u.split("/", 1)[0]),
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            )
            image_ref = pushed_image(
                f"{name}-image",
                plan.image,
                repo.repository_url,
                registry,
                {"genai-endpoints.engine-version": manifest.engine_version},
                own(depends_on=[repo]),
            )
            ecr_repo = repo.arn
        self.image = image_ref

        # ---------------------------------------------------------------- topics
        topic_key = key_arn if key_arn is not None else "alias/aws/sns"
        success_topic = error_topic = None
        if is_async:
            success_topic = sns.Topic(
                f"{name}-success", kms_master_key_id=topic_key, tags=tags, opts=child()
            )
            error_topic = sns.Topic(
                f"{name}-error", kms_master_key_id=topic_key, tags=tags, opts=child()
            )
        self.success_topic_arn = success_topic.arn if success_topic else None
        self.error_topic_arn = error_topic.arn if error_topic else None

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
            "ecr_repo": ecr_repo,
            "topics": [t.arn for t in (success_topic, error_topic) if t is not None],
        }
        static = {
            "partition": partition,
            "region": region,
            "prefix": prefix,
            "endpoint": plan.endpoint_name,
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
        environment_vars: dict[str, pulumi.Input[str]] = dict(environment(args))
        vpc = None
        if cfg.network.subnet_ids:
            vpc = sagemaker.ModelVpcConfigArgs(
                subnets=list(cfg.network.subnet_ids),
                security_group_ids=list(cfg.network.security_group_ids),
            )
        self.bucket_name = bucket.bucket
        model = sagemaker.Model(
            f"{name}-model",
            execution_role_arn=role.arn,
            primary_container=sagemaker.ModelPrimaryContainerArgs(
                image=image_ref,
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
            tags=tags,
            opts=child(depends_on=[role_policy, weights]),
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
        # Roll back on what the new fleet causes (5xx, latency), not on what clients send
        # (4xx) nor on a backlog that grows while the new fleet warms up.
        guards = [a for a in alarms if a.metric in ("Invocation5XXErrors", "ModelLatency")]

        # ---------------------------------------------------------------- endpoint
        endpoint = SageMakerEndpointDeployment(
            f"{name}-endpoint",
            region=region,
            endpoint_name=plan.endpoint_name,
            endpoint_config_name=endpoint_config.name,
            deployment_config=deployment_config(plan, [a.alarm_name for a in guards]),
            tags=tags,
            wait_s=plan.rollout.wait_s,
            opts=own(depends_on=[endpoint_config, *[a.resource for a in alarms]]),
        )

        # ---------------------------------------------------------------- autoscaling
        target = appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=f"endpoint/{plan.endpoint_name}/variant/{VARIANT}",
            min_capacity=cfg.min_instances,
            max_capacity=cfg.max_instances,
            tags=tags,
            opts=child(depends_on=[endpoint]),
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

        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        self.endpoint_arn = endpoint.arn
        self.register_outputs(
            {
                "bucket": bucket.bucket,
                "role_arn": role.arn,
                "model_data": weights.uri,
                "image": image_ref,
                "endpoint_name": plan.endpoint_name,
                "endpoint_arn": endpoint.arn,
            }
        )

    # ------------------------------------------------------------------ helpers

    def _alarms(self, name, plan: AwsPlan, tags, child) -> list[_Alarm]:
        a = plan.settings.alarms
        ep = plan.endpoint_name
        dims = {"EndpointName": ep, "VariantName": VARIANT}
        notify = [a.topic_arn] if a.topic_arn else None
        common = dict(
            namespace="AWS/SageMaker",
            period=a.period_seconds,
            evaluation_periods=a.evaluation_periods,
            datapoints_to_alarm=min(2, a.evaluation_periods),
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=notify,
            ok_actions=notify,
            tags=tags,
        )
        specs = [
            (
                "5xx",
                f"{ep}-5xx-rate",
                "share of invocations answered 5xx",
                "Invocation5XXErrors",
                {"statistic": "Average", "threshold": a.error5xx_rate},
            ),
            (
                "4xx",
                f"{ep}-4xx-rate",
                "share of invocations answered 4xx (clients' errors)",
                "Invocation4XXErrors",
                {"statistic": "Average", "threshold": a.error4xx_rate},
            ),
            (
                "latency",
                f"{ep}-model-latency-p90",
                "p90 model latency (microseconds)",
                "ModelLatency",
                {"extended_statistic": "p90", "threshold": a.latency_p90_seconds * 1e6},
            ),
        ]
        alarms = []
        for short, alarm_name, what, metric, stat in specs:
            resource = cloudwatch.MetricAlarm(
                f"{name}-{short}",
                name=alarm_name,
                alarm_description=f"{ep}: {what}",
                metric_name=metric,
                dimensions=dims,
                opts=child(),
                **stat,
                **common,
            )
            alarms.append(_Alarm(resource, alarm_name, metric))
        if plan.mode == "async":
            resource = cloudwatch.MetricAlarm(
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
            alarms.append(_Alarm(resource, f"{ep}-backlog", "ApproximateBacklogSize"))
        return alarms

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


@dataclass(frozen=True)
class _Alarm:
    resource: cloudwatch.MetricAlarm
    alarm_name: str  # known at plan time: the rollback config names it
    metric: str


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
    ecr_repo: str | None,
    partition: str,
    region: str,
    prefix: str,
    endpoint: str,
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
                # large async results are multipart uploads: an aborted one must be cleaned up
                "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
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
