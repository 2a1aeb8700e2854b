"""Vertex AI: the package's ``model/`` is the model's ``artifactUri``; Vertex copies it
and passes the copy as ``AIP_STORAGE_URI``, which the runtime fetches and verifies at
start. Shared public endpoints cap a request at 1.5 MB and 60 s; dedicated endpoints at
10 MB and (with ``inferenceTimeout`` raised) 3600 s."""

from __future__ import annotations

from dataclasses import asdict

from model_packages.manifest import CloudLimit
from model_packages.spec import CloudSpec, served_as
from scoring.server.contracts import vertex as contract


def spec() -> CloudSpec:
    return CloudSpec(
        cloud="vertex",
        contract=contract.NAME,
        # the routes infra writes into containerSpec, which Vertex passes back as AIP_*
        **served_as(contract.contract([], {"AIP_STORAGE_URI": "gs://bucket/models/"})),
        limits=[CloudLimit(**asdict(limit)) for limit in contract.DESCRIPTOR.limits],
    )
