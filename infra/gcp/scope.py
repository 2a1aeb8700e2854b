"""What every phase of the Vertex AI component needs to make its children.

The component makes one ``Scope`` and hands it to each phase (:mod:`infra.gcp.project`,
:mod:`infra.gcp.storage`, …): the component as every child's parent, the stack's GCP
provider, the plan, the labels, and the APIs a child must wait for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp.projects as projects
from pulumi_gcp.provider import Provider

from infra.gcp.config import GcpPlan


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """Tags as GCP labels: lowercase, ``[a-z0-9_-]``, keys start with a letter, ≤ 63 chars."""
    out = {}
    for k, v in tags.items():
        key = re.sub(r"[^a-z0-9_-]", "_", k.lower())[:63]
        if not key or not key[0].isalpha():
            key = ("k" + key)[:63]
        out[key] = re.sub(r"[^a-z0-9_-]", "_", str(v).lower())[:63]
    return out


@dataclass(frozen=True)
class Scope:
    """The component's children: their name prefix, parent, provider, plan and labels."""

    name: str
    parent: pulumi.Resource
    provider: Provider
    plan: GcpPlan
    labels: dict[str, str]
    apis: Mapping[str, projects.Service] = field(default_factory=dict)

    def child(self, **kw) -> pulumi.ResourceOptions:
        """Options for a GCP child: this component's, through the stack's provider."""
        return pulumi.ResourceOptions(parent=self.parent, provider=self.provider, **kw)

    def own(self, **kw) -> pulumi.ResourceOptions:
        """Options for this component's non-GCP children (dynamic, docker-build)."""
        return pulumi.ResourceOptions(parent=self.parent, **kw)

    def invoke(self, **kw) -> pulumi.InvokeOutputOptions:
        """Options for a data source read through the stack's provider."""
        return pulumi.InvokeOutputOptions(parent=self.parent, provider=self.provider, **kw)

    def needs(self, *names: str) -> list[pulumi.Resource]:
        """The enabled APIs among ``names`` (none when the stack leaves APIs alone)."""
        return [self.apis[n] for n in names if n in self.apis]
