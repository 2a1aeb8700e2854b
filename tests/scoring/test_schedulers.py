"""A scheduler per request, from the allowed set, built fresh for every call from the
model's own config: a request's choice never reaches the next one, a deployment default
comes from GENAI_SCHEDULER, and a scheduler the model can't run is a 400 naming it."""

from __future__ import annotations

import json

import pytest

from scoring.schema import SCHEDULERS
from tests.scoring.helpers import post

BASE = {"prompt": "a harbour", "num_inference_steps": 3, "seed": 4, "width": 64, "height": 64}


def engine_for(model_dir, **settings):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    return Engine(EngineSettings(model_dir=model_dir, device="cpu", **settings))


def answer(engine, **fields):
    from scoring.service import Scorer

    return post(Scorer(engine), json.dumps({**BASE, **fields}).encode())


def data(engine, **fields) -> str:
    reply = answer(engine, **fields)
    assert reply.status == 200, reply.body
    return reply.json()["outputs"][0]["data"]


@pytest.fixture(scope="module")
def sd(tiny_image_model):
    return engine_for(tiny_image_model)


@pytest.mark.slow
def test_every_scheduler_runs_on_sd_and_each_gives_its_own_image(sd):
    assert sd.info.schedulers == SCHEDULERS
    images = {name: data(sd, scheduler=name) for name in SCHEDULERS}
    # the tiny model's own scheduler is PNDM, so model-default and pndm agree; the rest differ
    assert images["model-default"] == images["pndm"]
    distinct = {images[n] for n in SCHEDULERS if n != "model-default"}
    assert len(distinct) == len(SCHEDULERS) - 1


@pytest.mark.slow
def test_a_requests_scheduler_does_not_leak(sd, tiny_image_model):
    default = data(engine_for(tiny_image_model))  # a fresh engine's first answer
    data(sd, scheduler="euler-a")
    data(sd, scheduler="ddim", num_inference_steps=7)
    assert data(sd) == default
    assert type(sd.base.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert type(sd.base_scheduler).__name__ == "PNDMScheduler"  # the model's, untouched


@pytest.mark.slow
def test_the_deployment_default_is_what_a_request_would_pick(sd, tiny_image_model):
    euler = engine_for(tiny_image_model, scheduler="euler")
    assert data(euler) == data(sd, scheduler="euler")
    assert data(euler, scheduler="dpm++") == data(sd)


def test_genai_scheduler_is_read_from_the_environment(monkeypatch):
    from scoring.settings import EngineSettings

    monkeypatch.setenv("GENAI_SCHEDULER", "ddim")
    assert EngineSettings().scheduler == "ddim"
    monkeypatch.setenv("GENAI_SCHEDULER", "lms")
    with pytest.raises(ValueError, match="scheduler"):
        EngineSettings()


def test_every_call_gets_a_new_scheduler_object(sd):
    from scoring.engine import make_scheduler

    made = [make_scheduler(name, sd.base_scheduler) for name in (*SCHEDULERS, "model-default")]
    assert all(m is not sd.base_scheduler for m in made)
    assert len({id(m) for m in made}) == len(made)


def test_an_unknown_scheduler_lists_the_allowed_ones(sd):
    reply = answer(sd, scheduler="lms")
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["field"] == "scheduler"
    assert "'dpm++', 'euler', 'euler-a', 'ddim', 'pndm' or 'model-default'" in error["message"]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_flow_matching_models_allow_only_their_own(tiny_family, family):
    engine = engine_for(tiny_family(family))
    assert engine.info.schedulers == ("model-default",)
    reply = answer(engine, scheduler="euler")
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["field"] == "scheduler"
    assert error["message"] == (
        f"scheduler: euler does not fit model '{tiny_family(family).name}' "
        "(FlowMatchEulerDiscreteScheduler); allowed: model-default"
    )
    # the deployment default (dpm++) does not fit either: the model's own is kept
    assert engine.default_scheduler == "model-default"
    assert data(engine, scheduler="model-default") == data(engine)
