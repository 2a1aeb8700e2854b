"""What every phase of the SageMaker component needs to make its children."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_aws.provider import Provider

from infra.aws.config import AwsPlan


@dataclass(frozen=True)
class Scope:
    """The component (parent of every child), its name (the prefix of every child's name),
    the plan, the tags, and the AWS provider pinned to the plan's region."""

    name: str
    plan: AwsPlan
    tags: dict[str, str]
    parent: pulumi.ComponentResource
    provider: Provider

    def child(self, **kw: Any) -> pulumi.ResourceOptions:
        """Options for an AWS child: this component's, through its regional provider."""
        return pulumi.ResourceOptions(parent=self.parent, provider=self.provider, **kw)

    def own(self, **kw: Any) -> pulumi.ResourceOptions:
        """Options for this component's non-AWS children (dynamic, docker-build)."""
        return pulumi.ResourceOptions(parent=self.parent, **kw)

    def invoke(self) -> pulumi.InvokeOutputOptions:
        """Options for a data-source call through the regional provider."""
        return pulumi.InvokeOutputOptions(parent=self.parent, provider=self.provider)
