"""The stack outputs each example stack exports are what the client reads: every section of
dev, staging and prod, synthesized under the mocks, parses with the client's reader, and
the fields its transports call with are there."""

from __future__ import annotations

import pytest

from genai_endpoints.client.outputs import SECTION_MODEL, section_for
from infra.outputs import StackOutput
from tests.infra.helpers import STACK_FILES, stack_result

STACKS = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]
CLOUDS = tuple(SECTION_MODEL)
# what each transport (genai_endpoints/client/transports) and resolve() read of a section
USED = {
    "aws": ("endpoint_name", "region", "model_id", "model_revision", "max_instances"),
    "gcp": ("predict_url", "endpoint_id", "region", "model_id", "model_revision", "max_replicas"),
    "azure": ("endpoint_name", "scoring_uri", "auth_mode", "model_id", "model_revision"),
}


def _kind(cloud: str, data: dict) -> str:
    if cloud == "aws":
        return "sagemaker-async" if data["mode"] == "async" else "sagemaker"
    return {"gcp": "vertex", "azure": "azureml"}[cloud]


def _sections(stack: str):
    outputs = stack_result(stack).outputs
    return outputs, [c for c in CLOUDS if c in outputs]


def test_every_example_stack_exports_a_cloud_section():
    assert all(_sections(stack)[1] for stack in STACKS)
    assert {c for stack in STACKS for c in _sections(stack)[1]} == set(CLOUDS)


@pytest.mark.parametrize("stack", STACKS)
def test_the_client_reads_every_section_the_stack_exports(stack):
    outputs, clouds = _sections(stack)
    for cloud in clouds:
        data = outputs[cloud]
        model = SECTION_MODEL[cloud]
        assert set(data) <= set(model.model_fields), f"{cloud}: keys the reader does not know"
        section = section_for(_kind(cloud, data), outputs, f"stack {stack}")
        assert isinstance(section, model)
        for name in USED[cloud]:
            assert getattr(section, name) is not None, f"{stack}: {cloud}.{name}"
        price, _ = section.instance_price(getattr(section, "max_instances", None))
        assert price is not None and price >= 0
        if cloud == "aws" and section.mode == "async":
            assert section.async_input_uri and section.async_output_uri


def test_azure_auth_mode_reads_in_the_clients_words():
    """The stack exports Azure ML's names (``Key``, ``AADToken``); targets and the transport
    use ``key`` and ``aad_token``."""
    modes = {}
    for stack in STACKS:
        outputs, clouds = _sections(stack)
        if "azure" in clouds:
            exported = outputs["azure"]["auth_mode"]
            modes[exported] = section_for("azureml", outputs, stack).auth_mode
    assert modes == {"Key": "key", "AADToken": "aad_token"}


def test_an_export_with_a_key_outside_the_model_is_refused():
    class Out(StackOutput):
        region: str

    assert Out.export(region="r", model_id="m") == {"region": "r", "model_id": "m"}
    with pytest.raises(TypeError, match="regoin not in the model"):
        Out.export(regoin="r")
    with pytest.raises(TypeError, match="missing"):
        Out.export(model_id="m")
    with pytest.raises(TypeError, match="region"):
        Out.export(region=3)
