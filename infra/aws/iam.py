"""The endpoint's execution role: assumed by SageMaker for this account only, with a
least-privilege policy built as a plain dict (testable without Pulumi)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws.iam as iam

from infra.aws.scope import Scope
from infra.aws.storage import (
    ASYNC_FAILURE_PREFIX,
    ASYNC_INPUT_PREFIX,
    ASYNC_OUTPUT_PREFIX,
    DATA_CAPTURE_PREFIX,
)

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


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def execution_role(
    scope: Scope,
    *,
    account_id: pulumi.Output[str],
    bucket_arn: pulumi.Output[str],
    key_arn: pulumi.Input[str] | None,
    ecr_repo: pulumi.Input[str] | None,
    topics: list[pulumi.Output[str]],
) -> tuple[iam.Role, iam.RolePolicy]:
    """The role and its inline policy (the model waits for the policy, not only the role)."""
    plan, name = scope.plan, scope.name
    cfg = plan.settings
    role = iam.Role(
        f"{name}-role",
        description=f"SageMaker execution role for {plan.endpoint_name}",
        assume_role_policy=account_id.apply(_assume_role_policy),
        max_session_duration=3600,
        tags=scope.tags,
        opts=scope.child(),
    )
    policy_inputs = {
        "bucket_arn": bucket_arn,
        "account": account_id,
        "key_arn": key_arn,
        "ecr_repo": ecr_repo,
        "topics": topics,
    }
    static = {
        "partition": partition_of(cfg.region),
        "region": cfg.region,
        "prefix": plan.manifest.weights.key_prefix,
        "endpoint": plan.endpoint_name,
        "is_async": plan.mode == "async",
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
        opts=scope.child(),
    )
    return role, role_policy


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
    statements = _serving_statements(bucket_arn, account, partition, region, prefix, endpoint)
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
    statements += _output_statements(bucket_arn, is_async, data_capture)
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
        statements += _vpc_statements(partition, region, account, subnets, security_groups)
    return {"Version": "2012-10-17", "Statement": statements}


def _serving_statements(
    bucket_arn: str, account: str, partition: str, region: str, prefix: str, endpoint: str
) -> list[dict]:
    """What every endpoint needs: read its weights, write its logs and metrics, log in to ECR."""
    log_group = (
        f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
    )
    return [
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


def _output_statements(bucket_arn: str, is_async: bool, data_capture: bool) -> list[dict]:
    """Async: read the inputs, write results and failures; data capture: write captures."""
    statements: list[dict] = []
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
    return statements


def _vpc_statements(
    partition: str, region: str, account: str, subnets: list[str], security_groups: list[str]
) -> list[dict]:
    """Private networking: SageMaker puts the endpoint's interfaces in the stack's subnets."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    return [
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
