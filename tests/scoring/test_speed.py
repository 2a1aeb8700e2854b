"""Each speed setting on the tiny CPU model: outputs match the reference (no setting)
within a stated tolerance, the VAE budget only acts above it, and compile (slow: inductor
builds C++ kernels) keeps the pictures and writes a cache the next replica loads. The
warm-up, which the server runs, is tested in tests/scoring/server/test_warmup.py.

Tolerances, 8-bit pixels against the same request without the setting:
- fused QKV: identical bytes on CPU (same reductions, one wider matrix product);
- channels-last, compile: at most 2 levels of 255 on any pixel, mean under 0.01 level
  (float summation order; measured: max 1, mean 8e-5);
- VAE budget below its threshold: identical bytes (the plain path runs).
"""

from __future__ import annotations

import numpy as np
import pytest

from scoring.engine import Engine
from scoring.service import Scorer
from scoring.settings import EngineSettings

MAX_LEVELS = 2
MAX_MEAN = 0.01
REQUEST = {"prompt": "a lighthouse", "num_inference_steps": 3, "seed": 11}


def pixels(engine: Engine, **request) -> np.ndarray:
    scorer = Scorer(engine)
    job = scorer.validate({**REQUEST, **request})
    generated = engine.generate(job.req, job.kwargs)
    return np.stack([np.asarray(o[0], dtype=np.int16) for o in generated.outputs])


def engine_with(model, **settings) -> Engine:
    return Engine(EngineSettings(model_dir=model, **settings))


@pytest.fixture(scope="module")
def reference(tiny_image_model):
    """The reference: no speed setting at all."""
    eng = engine_with(tiny_image_model, vae_tiling_pixels=0)
    return {size: pixels(eng, width=size, height=size) for size in (64, 128)}


@pytest.mark.parametrize(
    ("settings", "exact"),
    [
        ({"fuse_qkv": True}, True),
        ({"channels_last": True}, False),
        ({"vae_tiling_pixels": 128 * 128}, True),  # at the budget, not above: plain path
        ({"fuse_qkv": True, "channels_last": True}, False),
    ],
    ids=["fuse_qkv", "channels_last", "vae_budget_not_reached", "fuse_qkv+channels_last"],
)
def test_each_setting_matches_the_reference(tiny_image_model, reference, settings, exact):
    eng = engine_with(tiny_image_model, **settings)
    for size in (64, 128):
        out = pixels(eng, width=size, height=size)
        diff = np.abs(out - reference[size])
        if exact:
            assert diff.max() == 0, (settings, size)
        else:
            assert diff.max() <= MAX_LEVELS and diff.mean() < MAX_MEAN, (settings, size)


def test_settings_are_reported_and_applied(tiny_image_model):
    import torch

    eng = engine_with(tiny_image_model, fuse_qkv=True, channels_last=True)
    report = eng.speed
    assert report.fused_qkv and report.channels_last and not report.compiled
    unet = eng.base.unet
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert any(hasattr(m, "to_qkv") for m in unet.modules())
    # derived pipelines share the modules, hence the settings
    assert eng.pipeline_for(next(iter(eng.info.tasks))).unet is unet


def test_channels_last_defaults_off_on_cpu(image_engine):
    assert not image_engine.speed.channels_last and not image_engine.speed.compiled


def test_vae_budget_tiles_an_image_above_it_and_slices_batches(tiny_image_model, reference):
    import torch

    eng = engine_with(tiny_image_model, vae_tiling_pixels=64 * 64)
    vae = eng.base.vae
    tiled = []
    original = vae.tiled_decode
    vae.tiled_decode = lambda *a, **k: tiled.append(1) or original(*a, **k)
    assert np.abs(pixels(eng, width=64, height=64) - reference[64]).max() == 0
    assert not tiled  # at the budget: the plain path, same bytes
    out = pixels(eng, width=128, height=128)
    assert tiled and out.shape == reference[128].shape  # above it: tiles (pixels near seams move)

    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        batch = vae.decode(z).sample
        assert vae.use_slicing  # two 64x64 images: over a 64x64 budget together
        alone = torch.cat([vae.decode(z[i : i + 1]).sample for i in range(2)])
    assert torch.equal(batch, alone)  # sliced: each image decoded exactly as alone


def test_video_models_skip_channels_last_for_3d_weights(tiny_video_model):
    eng = engine_with(tiny_video_model, channels_last=True)
    assert any("3-D" in note for note in eng.speed.notes)
    scorer = Scorer(eng)
    job = scorer.validate({"prompt": "waves", "num_frames": 2, "num_inference_steps": 1, "seed": 1})
    assert len(eng.generate(job.req, job.kwargs).outputs[0]) == 2


def test_compile_without_a_c_compiler_runs_uncompiled(tiny_image_model, monkeypatch):
    monkeypatch.setattr("scoring.speed.c_compiler", lambda: None)
    eng = engine_with(tiny_image_model, compile=True)
    assert not eng.speed.compiled
    assert "no C compiler" in eng.speed.notes[0]


# --------------------------------------------------------------------------- compile


@pytest.fixture(scope="module")
def compiled(tiny_image_model, tmp_path_factory):
    """One compiled engine (inductor on CPU: about 2 minutes cold on a 2-core machine,
    seconds once inductor's local cache holds the kernels)."""
    from scoring.speed import c_compiler

    if c_compiler() is None:
        pytest.skip("no C compiler: inductor cannot build CPU kernels here")
    cache_dir = tmp_path_factory.mktemp("compile-cache")
    eng = engine_with(
        tiny_image_model, compile=True, compile_mode="default", compile_cache_dir=cache_dir
    )
    return eng, cache_dir


@pytest.mark.slow
def test_compiled_engine_matches_the_reference_and_ships_its_cache(
    compiled, reference, tiny_image_model
):
    from scoring.server.warmup import warm_up

    eng, cache_dir = compiled
    assert eng.speed.compiled and eng.speed.cache_file
    warm_up(Scorer(eng))  # compiles at the native size, then writes the cache
    for size in (64,):
        diff = np.abs(pixels(eng, width=size, height=size) - reference[size])
        assert diff.max() <= MAX_LEVELS and diff.mean() < MAX_MEAN
    written = cache_dir / eng.speed.cache_file
    assert eng.speed.cache_saved == str(written) and written.stat().st_size > 0

    # the next replica finds it in the model folder's compile-cache/ or the cache dir
    nxt = engine_with(tiny_image_model, compile=True, compile_mode="default",
                      compile_cache_dir=cache_dir)  # fmt: skip
    assert nxt.speed.cache_loaded and nxt.speed.cache_file == eng.speed.cache_file


def test_cache_names_differ_by_what_the_artefacts_depend_on(image_engine):
    from scoring.speed import cache_name

    base = image_engine.settings
    names = {
        cache_name(s, "cpu", image_engine.base)
        for s in (
            base,
            base.model_copy(update={"compile_mode": "max-autotune"}),
            base.model_copy(update={"fuse_qkv": True}),
        )
    }
    assert len(names) == 3 and all(n.startswith("cpu-") for n in names)


def test_a_corrupt_cache_file_is_ignored(tiny_image_model, tmp_path, caplog):
    from scoring.speed import load_compile_cache

    settings = EngineSettings(model_dir=tiny_image_model, compile_cache_dir=tmp_path)
    (tmp_path / "x.bin").write_bytes(b"not a cache")
    assert load_compile_cache(settings, "x.bin") is False
    assert "not loaded" in caplog.text
