"""What every phase of the Azure ML component needs to make its children.

The component makes one ``Scope`` and hands it to each phase (:mod:`infra.azure.workspace`,
:mod:`infra.azure.storage`, …): the component as every child's parent, the plan, the tags,
the subscription and tenant the deploying identity works in, and the resource group a
child of the group must wait for when the stack creates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.azure.config import AzurePlan


@dataclass(frozen=True)
class Scope:
    """The component's children: their name prefix, parent, plan, tags and where they live."""

    name: str
    parent: pulumi.Resource
    plan: AzurePlan
    tags: dict[str, str]
    stack: str
    client: Any  # the deploying identity: authorization.get_client_config_output
    subscription: pulumi.Output[str]
    tenant: pulumi.Output[str]
    group_deps: list[pulumi.Resource] = field(default_factory=list)

    def child(self, **kw) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, **kw)

    def in_group(self, **kw) -> pulumi.ResourceOptions:
        """Options for a child of the resource group: after the group, if the stack makes it."""
        deps = list(kw.pop("depends_on", [])) + self.group_deps
        return self.child(depends_on=deps, **kw)

    def invoke(self) -> pulumi.InvokeOutputOptions:
        return pulumi.InvokeOutputOptions(parent=self.parent)

    @property
    def in_workspace(self) -> dict[str, str]:
        """The arguments that place a workspace child (assets, endpoint, deployments)."""
        return dict(
            resource_group_name=self.plan.resource_group_name,
            workspace_name=self.plan.workspace_name,
        )

    @property
    def data_access(self) -> str:
        """Storage and registry: closed, or open to the deploying runner's addresses only."""
        cfg = self.plan.settings
        return "Enabled" if cfg.deployer_ip_ranges else cfg.public_network_access


def known(what: str):
    """An id the provider always returns; a preview under mocks has none: a placeholder."""

    def pick(value):
        if value:
            return value
        if pulumi.runtime.is_dry_run():
            return f"<{what}>"
        raise RuntimeError(f"the azure-native provider returned no {what} id")

    return pick
