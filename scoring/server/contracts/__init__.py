"""Each cloud's custom-container contract, read from the environment that cloud sets.

Adding a cloud adds one module here (its ``DESCRIPTOR``) and one line to ``DESCRIPTORS``.
``GENAI_CONTRACT`` names a contract outright (infra always sets it); otherwise the first
contract whose ``matches`` recognises the process arguments and environment wins.

``CLOUDS`` is the one table between the two vocabularies: it finds a cloud's descriptor
by its contract name (sagemaker, vertex, azureml) or by infra's (aws, gcp, azure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts import azureml, sagemaker, vertex
from scoring.server.contracts.base import Contract, ContractError, Descriptor

__all__ = [
    "CLOUDS",
    "CONTRACTS",
    "DESCRIPTORS",
    "Contract",
    "ContractError",
    "Descriptor",
    "detect",
]

DESCRIPTORS: tuple[Descriptor, ...] = (
    sagemaker.DESCRIPTOR,
    vertex.DESCRIPTOR,
    azureml.DESCRIPTOR,
)
CONTRACTS: dict[str, Descriptor] = {d.name: d for d in DESCRIPTORS}  # by contract name
CLOUDS: dict[str, Descriptor] = {**CONTRACTS, **{d.cloud: d for d in DESCRIPTORS}}  # both ways


def detect(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    """The contract this process must speak, from its arguments and environment."""
    name = env.get("GENAI_CONTRACT", "").strip().lower()
    if name:
        if name not in CONTRACTS:
            allowed = ", ".join(CONTRACTS)
            raise ContractError(f"GENAI_CONTRACT={name!r} is not known; allowed: {allowed}")
        return CONTRACTS[name].contract(argv, env)
    for descriptor in DESCRIPTORS:
        if descriptor.matches(argv, env):
            return descriptor.contract(argv, env)
    signs = ", ".join(f"{d.started_by} ({d.title})" for d in DESCRIPTORS)
    raise ContractError(
        f"cannot tell which cloud started this container: expected {signs}, or "
        f"GENAI_CONTRACT={'|'.join(CONTRACTS)}"
    )
