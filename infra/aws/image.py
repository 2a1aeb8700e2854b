"""The serving image: pinned by the stack, or built and pushed by digest to a new ECR
repository (:mod:`infra.runtime`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws.ecr as ecr

from infra.aws.iam import partition_of
from infra.aws.scope import Scope
from infra.runtime import IMAGE_NAME, pushed_image


@dataclass(frozen=True)
class Image:
    ref: pulumi.Output[str]  # repo@sha256:…
    repository_arn: pulumi.Input[str] | None  # what the role may pull; None: not ECR


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


def serving_image(scope: Scope, key_arn: pulumi.Input[str] | None) -> Image:
    """The stack's pinned image, or a repository (encrypted with ``key_arn`` if any) and the
    image built from the project folder and pushed there."""
    plan = scope.plan
    if plan.image.pinned:
        partition = partition_of(plan.settings.region)
        return Image(
            pulumi.Output.from_input(plan.image.pinned),
            ecr_repository_arn(plan.image.pinned, partition),
        )
    repo = ecr.Repository(
        f"{scope.name}-registry",
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
        force_delete=plan.settings.force_destroy,
        tags=scope.tags,
        opts=scope.child(),
    )
    token = ecr.get_authorization_token_output(registry_id=repo.registry_id, opts=scope.invoke())
    import pulumi_docker_build as docker_build

    registry = docker_build.RegistryArgs(
        address=repo.repository_url.apply(lambda u: u.split("/", 1)[0]),
        username=token.user_name,
        password=pulumi.Output.secret(token.password),
    )
    ref = pushed_image(
        f"{scope.name}-image",
        plan.image,
        repo.repository_url,
        registry,
        {"genai-endpoints.engine-version": plan.manifest.engine_version},
        scope.own(depends_on=[repo]),
    )
    return Image(ref, repo.arn)
