"""Azure ML: the package's ``model/`` becomes the model asset (``AZUREML_MODEL_DIR``);
the runtime image runs as a custom container whose environment's inference config names
port 5001 and the liveness ``/``, readiness ``/ready`` and scoring ``/score`` routes. The
front end caps a request at 100 MB and ``request_timeout_ms`` at 180 s."""

from __future__ import annotations

from dataclasses import asdict

from model_packages.manifest import CloudLimit
from model_packages.spec import CloudSpec, served_as
from scoring.server.contracts import azureml as contract


def spec() -> CloudSpec:
    return CloudSpec(
        cloud="azureml",
        contract=contract.NAME,
        # the port and routes infra writes into the environment's inference config
        **served_as(contract.contract([], {"AZUREML_MODEL_DIR": "/var/azureml-app"})),
        limits=[CloudLimit(**asdict(limit)) for limit in contract.DESCRIPTOR.limits],
    )
