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
