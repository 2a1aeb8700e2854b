"""Each cloud's custom-container contract, read from the environment that cloud sets.

Adding a cloud adds one module here and one line to ``CONTRACTS``. ``GENAI_CONTRACT``
names a contract outright (infra always sets it); otherwise the first contract whose
``matches`` recognises the process arguments and environment wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts import azureml, sagemaker, vertex
from scoring.server.contracts.base import Contract, ContractError

__all__ = ["CONTRACTS", "Contract", "ContractError", "detect"]

CONTRACTS = {module.NAME: module for module in (sagemaker, vertex, azureml)}


def detect(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    """The contract this process must speak, from its arguments and environment."""
    name = env.get("GENAI_CONTRACT", "").strip().lower()
    if name:
        if name not in CONTRACTS:
            allowed = ", ".join(CONTRACTS)
            raise ContractError(f"GENAI_CONTRACT={name!r} is not known; allowed: {allowed}")
        return CONTRACTS[name].contract(argv, env)
    for module in CONTRACTS.values():
        if module.matches(argv, env):
            return module.contract(argv, env)
    raise ContractError(
        "cannot tell which cloud started this container: expected the argument 'serve' "
        "(SageMaker), AIP_HTTP_PORT (Vertex AI), AZUREML_MODEL_DIR (Azure ML), or "
        "GENAI_CONTRACT=sagemaker|vertex|azureml"
    )
