"""The warm-up the server runs before readiness (scoring/server/warmup.py): each served
shape and image-to-image once, nothing when off, a failure fails the load naming it, and
readiness turns green only after it."""

from __future__ import annotations

import threading

import pytest

from scoring.engine import Engine
from scoring.server.warmup import warm_up
from scoring.service import Scorer
from scoring.settings import EngineSettings


def engine_with(model, **settings) -> Engine:
    return Engine(EngineSettings(model_dir=model, **settings))


def test_warm_up_runs_each_served_shape_and_image_to_image(tiny_image_model):
    eng = engine_with(tiny_image_model, warmup=True, warmup_sizes="64x64,96x64", warmup_steps=1)
    calls = []
    generate = eng.generate
    eng.generate = lambda req, kwargs, **kw: calls.append(req) or generate(req, kwargs, **kw)
    took = warm_up(Scorer(eng))
    assert took > 0 and eng.speed.warmup_s is not None
    assert [(r.task.value, r.width, r.height) for r in calls[:2]] == [
        ("text-to-image", 64, 64),
        ("text-to-image", 96, 64),
    ]
    assert calls[2].task.value == "image-to-image"


def test_warm_up_off_runs_nothing(tiny_image_model):
    eng = engine_with(tiny_image_model, warmup=False)
    eng.generate = None  # would fail if called
    assert warm_up(Scorer(eng)) == 0.0


def test_a_failing_warm_up_fails_the_load_naming_it(tiny_image_model):
    from scoring.errors import ModelNotReady

    eng = engine_with(tiny_image_model, warmup=True, warmup_sizes="4096x4096")
    with pytest.raises(ModelNotReady, match="warm-up generation failed: width"):
        warm_up(Scorer(eng))


def test_readiness_turns_green_only_after_the_warm_up(image_packages, monkeypatch):
    """The server's own loader (load_scorer) with the warm-up held: readiness says
    loading (503) until the warm-up ends, then ready."""
    from starlette.testclient import TestClient

    import scoring.server.warmup
    from scoring.server.app import ModelState, build_app
    from scoring.server.contracts import detect
    from scoring.server.main import load_scorer
    from scoring.server.settings import ServerSettings

    started, release = threading.Event(), threading.Event()
    real = scoring.server.warmup.warm_up

    def held(scorer):
        started.set()
        assert release.wait(30)
        return real(scorer)

    monkeypatch.setattr(scoring.server.warmup, "warm_up", held)
    monkeypatch.setenv("GENAI_WARMUP", "true")  # unset, the CPU skips it (next test)
    env = {"AZUREML_MODEL_DIR": str(image_packages / "azureml" / "model")}
    contract = detect([], env)
    settings = ServerSettings()
    state = ModelState()
    app = build_app(contract, settings, state)
    state.start(lambda: load_scorer(contract, settings, env))
    with TestClient(app) as client:
        assert started.wait(60)
        assert client.get(contract.readiness_route).status_code == 503
        release.set()
        assert state.loaded.wait(60) and state.error is None
        assert client.get(contract.readiness_route).status_code == 200
    assert state.scorer.engine.speed.warmup_s is not None


def test_unset_the_warm_up_runs_only_where_it_pays(tiny_image_model):
    """GENAI_WARMUP unset: no generation on the CPU (a first request there pays no lazy
    initialisation); on an accelerator, or with compile, it runs."""
    from scoring.server.warmup import wanted

    eng = engine_with(tiny_image_model)
    assert eng.settings.warmup is None and eng.device == "cpu"
    eng.generate = None  # would fail if called
    assert warm_up(Scorer(eng)) == 0.0
    settings = eng.settings
    assert wanted(settings, "cuda") and wanted(settings.model_copy(update={"compile": True}), "cpu")
    assert not wanted(settings.model_copy(update={"warmup": False}), "cuda")
