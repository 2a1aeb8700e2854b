"""Which contract the server speaks, from the arguments and environment each cloud sets."""

from __future__ import annotations

import pytest

from scoring.server.contracts import ContractError, detect


def test_sagemaker_is_started_with_serve():
    c = detect(["serve"], {"SAGEMAKER_BIND_TO_PORT": "8080"})
    assert (c.name, c.port, c.readiness_route, c.predict_route) == (
        "sagemaker", 8080, "/ping", "/invocations")  # fmt: skip
    assert c.model_source == "/opt/ml/model" and c.max_request_bytes == 6_000_000


def test_vertex_reads_the_aip_variables_it_sets():
    env = {
        "AIP_HTTP_PORT": "7080",
        "AIP_HEALTH_ROUTE": "/v1/endpoints/1/deployedModels/2",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/1/deployedModels/2:predict",
        "AIP_STORAGE_URI": "gs://vertex-copy/models/abc",
        "AIP_MODE": "PREDICTION",
    }
    c = detect([""], env)
    assert (c.name, c.port, c.model_source) == ("vertex", 7080, "gs://vertex-copy/models/abc")
    assert c.liveness_route == c.readiness_route == "/v1/endpoints/1/deployedModels/2"
    assert c.predict_route == "/v1/endpoints/1/deployedModels/2:predict"
    assert c.max_request_bytes == 1_500_000


def test_azureml_uses_its_inference_config_routes_and_model_dir():
    c = detect([""], {"AZUREML_MODEL_DIR": "/var/azureml-app/azureml-models/m/1"})
    assert (c.name, c.port, c.liveness_route, c.readiness_route, c.predict_route) == (
        "azureml", 5001, "/", "/ready", "/score")  # fmt: skip
    assert c.model_source == "/var/azureml-app/azureml-models/m/1"


def test_genai_contract_names_one_outright():
    env = {"GENAI_CONTRACT": "azureml", "AZUREML_MODEL_DIR": "/m", "AIP_HTTP_PORT": "8080"}
    assert detect(["serve"], env).name == "azureml"


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        ([""], {}, "cannot tell which cloud"),
        ([""], {"GENAI_CONTRACT": "lambda"}, "allowed: sagemaker, vertex, azureml"),
        ([""], {"AIP_HTTP_PORT": "8080"}, "AIP_STORAGE_URI is not set"),
        ([""], {"AIP_HTTP_PORT": "http", "AIP_STORAGE_URI": "gs://b/p"}, "not a port"),
        (
            [""],
            {"AIP_HTTP_PORT": "8080", "AIP_STORAGE_URI": "gs://b", "AIP_HEALTH_ROUTE": "x"},
            "starting with '/'",
        ),
        ([""], {"GENAI_CONTRACT": "azureml"}, "AZUREML_MODEL_DIR is not set"),
    ],
)
def test_an_unusable_environment_is_one_clear_error(argv, env, words):
    with pytest.raises(ContractError, match=words):
        detect(argv, env)


def test_server_main_refuses_an_unknown_environment(caplog):
    from scoring.server.main import main

    assert main([], {}) == 2
    assert "cannot tell which cloud" in caplog.text


def test_one_table_maps_both_vocabularies():
    from scoring.server.contracts import CLOUDS, CONTRACTS

    pairs = {"aws": "sagemaker", "gcp": "vertex", "azure": "azureml"}
    assert list(CONTRACTS) == list(pairs.values())
    for cloud, contract in pairs.items():
        assert CLOUDS[cloud] is CLOUDS[contract] is CONTRACTS[contract]
        assert (CLOUDS[cloud].name, CLOUDS[contract].cloud) == (contract, cloud)


def test_descriptors_hold_each_clouds_own_limits():
    from scoring.server.contracts import CLOUDS

    caps = {
        (d.name, x.name): (x.max_request_bytes, x.max_response_bytes, x.timeout_s)
        for d in CLOUDS.values()
        for x in d.limits
    }
    assert caps == {
        ("sagemaker", "realtime"): (6_000_000, 6_000_000, 60),
        ("sagemaker", "async"): (1_000_000_000, None, 3600),
        ("vertex", "shared"): (1_500_000, 1_500_000, 60),
        ("vertex", "dedicated"): (10_000_000, 10_000_000, 3600),
        ("azureml", "managed"): (100_000_000, None, 180),
    }
    assert CLOUDS["azure"].limit("managed").timeout_s * 1000 == 180_000  # request_timeout_ms
    assert [d.server_max_request_bytes for d in CLOUDS.values()][:3] == [
        6_000_000, 1_500_000, 32_000_000]  # fmt: skip
    with pytest.raises(KeyError, match="has no limit 'batch'"):
        CLOUDS["vertex"].limit("batch")


@pytest.mark.parametrize(
    ("cloud", "body"),
    [
        ("sagemaker", {"inputs": "a fox", "parameters": {"seed": 3}}),
        ("vertex", {"instances": [{"prompt": "a fox", "seed": 3}], "parameters": {}}),
        ("azureml", {"prompt": "a fox", "seed": 3}),
    ],
)
def test_each_descriptor_wraps_a_request_as_its_clients_do(cloud, body):
    from scoring.envelopes import Envelope, unwrap
    from scoring.server.contracts import CLOUDS
    from scoring.settings import Limits

    d = CLOUDS[cloud]
    assert d.wrap({"prompt": "a fox", "seed": 3}) == body
    unwrapped = unwrap(body, Limits())
    assert unwrapped.envelope is Envelope(d.envelope)
    assert unwrapped.requests == [{"prompt": "a fox", "seed": 3}]
    answer = {"outputs": []}
    wrapped = {"predictions": [answer]} if d.envelope == "instances" else answer
    assert d.first_answer(wrapped) is answer


def test_each_descriptors_local_environment_selects_its_own_contract(tmp_path):
    from scoring.server.contracts import DESCRIPTORS
    from scoring.server.contracts.base import LocalRun

    for d in DESCRIPTORS:
        run = LocalRun(9123, str(tmp_path), d.routes.readiness, d.routes.predict)
        c = detect(list(d.args) or [""], d.local_env(run))
        assert (c.name, c.port, c.model_source) == (d.name, 9123, str(tmp_path))
        assert (c.liveness_route, c.readiness_route, c.predict_route) == (
            d.routes.liveness, d.routes.readiness, d.routes.predict)  # fmt: skip
        assert all(k.startswith(("GENAI_", *d.env_prefixes)) for k in d.local_env(run))
