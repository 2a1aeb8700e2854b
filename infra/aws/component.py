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

Each phase is a module of its own (:mod:`~infra.aws.storage`, :mod:`~infra.aws.image`,
:mod:`~infra.aws.iam`, :mod:`~infra.aws.model`, :mod:`~infra.aws.monitoring`,
:mod:`~infra.aws.endpoint`, :mod:`~infra.aws.scaling`); the constructor only orders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
from pulumi_aws.get_caller_identity import get_caller_identity_output
from pulumi_aws.provider import Provider

from infra.aws import endpoint, iam, image, model, monitoring, scaling, storage
from infra.aws.config import AwsPlan
from infra.aws.scope import Scope

TYPE_TOKEN = "genai-endpoints:aws:SageMakerEndpoint"


@dataclass(frozen=True)
class SageMakerEndpointArgs:
    plan: AwsPlan
    task: str
    tags: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)


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
        plan = args.plan
        provider = Provider(
            f"{name}-provider",
            region=plan.settings.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        scope = Scope(name=name, plan=plan, tags=dict(args.tags), parent=self, provider=provider)
        account_id = get_caller_identity_output(opts=scope.invoke()).account_id

        key_arn = storage.encryption_key(scope)
        bucket = storage.bucket(scope, key_arn)
        weights = storage.weights(scope, bucket)
        serving = image.serving_image(scope, key_arn)
        topics = model.async_topics(scope, key_arn)
        role, role_policy = iam.execution_role(
            scope,
            account_id=account_id,
            bucket_arn=bucket.resource.arn,
            key_arn=key_arn,
            ecr_repo=serving.repository_arn,
            topics=[topics.success.arn, topics.error.arn] if topics else [],
        )
        sagemaker_model = model.model(
            scope,
            environment_vars=dict(model.environment(plan, args.task, args.extra_env)),
            image=serving.ref,
            role=role,
            role_policy=role_policy,
            weights=weights,
        )
        config = model.endpoint_config(
            scope, model=sagemaker_model, bucket=bucket.resource, key_arn=key_arn, topics=topics
        )
        alarms = monitoring.alarms(scope, key_arn)
        deployment = endpoint.endpoint(scope, config, alarms)
        scaling.autoscaling(scope, deployment)

        self.image = serving.ref
        self.success_topic_arn = topics.success.arn if topics else None
        self.error_topic_arn = topics.error.arn if topics else None
        self.bucket_name = bucket.resource.bucket
        self.endpoint_name = pulumi.Output.from_input(plan.endpoint_name)
        self.endpoint_arn = deployment.arn
        self.register_outputs(
            {
                "bucket": bucket.resource.bucket,
                "role_arn": role.arn,
                "model_data": weights.uri,
                "image": serving.ref,
                "endpoint_name": plan.endpoint_name,
                "endpoint_arn": deployment.arn,
            }
        )
