"""Content safety: the prompt deny list (normalised matching, a 400 naming the rule before
anything runs) and the safety checker's policies on tiny checkers whose decision is forced
(one flags every image, one none)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from scoring.errors import ModelNotReady, RequestError
from scoring.safety import (
    PLACEHOLDER_GREY,
    DenyList,
    DenyRule,
    apply_policy,
    normalise,
    read_terms,
)
from tests.scoring.helpers import post
from tests.tiny_adapters import packaged, tiny_safety_checker

BASE = {"prompt": "a harbour", "num_inference_steps": 2, "seed": 9, "width": 64, "height": 64}


def deny(*terms: str) -> DenyList:
    return DenyList([DenyRule(t, f"test[{i}]") for i, t in enumerate(terms)])


# --------------------------------------------------------------------------- deny list


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("Red  FOX", "red fox"),
        ("ＲＥＤ ｆｏｘ", "red fox"),  # full-width forms (NFKC)
        ("re\u0301d", "red"),  # e + a combining accent
        ("r\u200bed\u2060", "red"),  # zero-width space and word joiner dropped
        ("Straße", "strasse"),  # case folding, not lowercasing
        ("ﬁsh", "fish"),  # a ligature
        ("café\tcrème\n", "cafe creme"),
    ],
)
def test_normalise(text, normal):
    assert normalise(text) == normal


@pytest.mark.parametrize(
    ("terms", "text", "hit"),
    [
        (["fox"], "A FOX in the snow", "fox"),
        (["fox"], "a foxglove", None),  # whole words only
        (["ass"], "a class act", None),
        (["red fox"], "the red\n\tfox", "red fox"),  # any whitespace between words
        (["red fox"], "red, fox", None),
        (["fox"], "ｆｏｘ!", "fox"),
        (["fox"], "f\u200bo\u200dx", "fox"),  # invisible characters can't split a term
        (["café"], "un CAFE noir", "café"),  # accents on either side
        (["18+"], "rated 18+ only", "18+"),  # punctuation at an edge needs no boundary
        (["猫"], "一只猫在睡觉", "猫"),  # no spaces between words in CJK: matched anywhere
        (["fox", "red fox"], "the red fox", "red fox"),  # the first term in the text
    ],
)
def test_deny_list_matching(terms, text, hit):
    rule = deny(*terms).match(text)
    assert (rule.term if rule else None) == hit


def test_a_match_is_a_400_naming_the_field_and_rule():
    with pytest.raises(RequestError) as caught:
        deny("fox", "wolf").check("prompt", "a grey WOLF")
    assert caught.value.field == "prompt"
    assert caught.value.message == (
        "prompt: refused by the deployment's deny list (rule test[1]: 'wolf'); "
        "nothing was generated"
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_a_term_between_spaces_is_always_found(before, after):
    words = deny("forbidden phrase")
    assert words.match(f"{before} FORBIDDEN   Phrase {after}") is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_matching_never_fails_on_any_text(text):
    deny("fox", "猫", "18+").match(text)


def test_deny_terms_file_format():
    rules = read_terms("# comment\n\n  fox  \nred fox\n", "deny_terms.txt")
    assert [(r.term, r.source) for r in rules] == [
        ("fox", "safety/deny_terms.txt line 3"),
        ("red fox", "safety/deny_terms.txt line 4"),
    ]
    with pytest.raises(ValueError, match="line 2: a term may not hold control characters"):
        read_terms("ok\nbad\x07term\n")


def test_deny_list_sources(tmp_path):
    (tmp_path / "safety").mkdir()
    (tmp_path / "safety" / "deny_terms.txt").write_text("wolf\n")
    words = DenyList.load(["fox", "FOX"], tmp_path)  # duplicates after normalising: one rule
    assert [r.source for r in words.rules] == [
        "GENAI_DENY_TERMS[0]",
        "safety/deny_terms.txt line 1",
    ]
    with pytest.raises(ModelNotReady, match=r"GENAI_DENY_TERMS\[1\]: empty term"):
        DenyList.load(["fox", " \u200b "], None)


def test_genai_deny_terms_is_a_json_list(monkeypatch):
    from scoring.settings import EngineSettings

    monkeypatch.setenv("GENAI_DENY_TERMS", '["red fox", "wolf"]')
    assert EngineSettings().deny_terms == ["red fox", "wolf"]


# --------------------------------------------------------------------------- engine


def engine_for(model_dir, **settings):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    return Engine(EngineSettings(model_dir=model_dir, device="cpu", **settings))


def generated(engine, **fields):
    """What the engine made, before rendering (``Generated``: outputs, nsfw, extra)."""
    from scoring.service import Scorer

    scorer = Scorer(engine)
    return scorer.run(scorer.parse(json.dumps({**BASE, **fields}).encode()))[0].generated


def pixels(gen, i: int = 0) -> np.ndarray:
    return np.stack([np.asarray(frame) for frame in gen.outputs[i]])


@pytest.fixture(scope="module")
def checkers(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkers")
    return {
        "flags": tiny_safety_checker(root / "flags", flags=True),
        "passes": tiny_safety_checker(root / "passes", flags=False),
    }


@pytest.fixture(scope="module")
def models(tiny_image_model, checkers, tmp_path_factory):
    """The tiny model packaged with each checker, and with a deny list."""
    root = tmp_path_factory.mktemp("safety-packages")
    terms = root / "deny.txt"
    terms.write_text("# test list\nlighthouse\nred fox\n")
    return {
        name: packaged(tiny_image_model, root / name, safety_checker=path, deny_terms=terms)
        for name, path in checkers.items()
    }


@pytest.fixture(scope="module")
def plain(tiny_image_model):
    return engine_for(tiny_image_model)


def test_a_denied_prompt_is_refused_before_anything_runs(models, monkeypatch):
    from scoring.service import Scorer

    engine = engine_for(models["passes"], deny_terms=["harbour wall"])

    def must_not_run(*args, **kwargs):
        raise AssertionError("generated a denied prompt")

    monkeypatch.setattr(engine, "generate", must_not_run)
    scorer = Scorer(engine)
    for prompt, rule in [
        ("A Red Fox at dawn", "safety/deny_terms.txt line 3: 'red fox'"),
        ("the HARBOUR  wall", "GENAI_DENY_TERMS[0]: 'harbour wall'"),
    ]:
        reply = post(scorer, json.dumps({**BASE, "prompt": prompt}).encode())
        assert reply.status == 400
        assert reply.json()["error"]["field"] == "prompt"
        assert rule in reply.json()["error"]["message"]
    batch = {"instances": [{"prompt": "a boat"}, {"prompt": "a lighthouse"}]}
    reply = post(scorer, json.dumps(batch).encode())
    assert reply.status == 400
    assert reply.json()["error"]["field"] == "instances[1].prompt"


def test_the_negative_prompt_is_not_checked(models):
    engine = engine_for(models["passes"])
    gen = generated(engine, negative_prompt="lighthouse, red fox")
    assert len(gen.outputs) == 1


@pytest.mark.slow
def test_pipelines_ignore_the_negative_prompt_without_guidance(plain):
    """Why the negative prompt is not checked: it is only ever steered away from; at
    guidance_scale <= 1 (no classifier-free guidance) the pipeline does not use it."""
    for scale in (0.0, 1.0):
        base = pixels(generated(plain, guidance_scale=scale))
        with_negative = pixels(generated(plain, guidance_scale=scale, negative_prompt="a cat"))
        assert np.array_equal(base, with_negative)
    assert not np.array_equal(
        pixels(generated(plain, guidance_scale=7.5)),
        pixels(generated(plain, guidance_scale=7.5, negative_prompt="a cat")),
    )


@pytest.mark.slow
def test_flag_marks_and_keeps_the_pixels(models, plain):
    engine = engine_for(models["flags"], safety="flag")
    gen = generated(engine, num_outputs=2)
    assert gen.nsfw == [True, True]
    assert gen.extra["safety"] == "flag"
    expected = generated(plain, num_outputs=2)
    assert all(np.array_equal(pixels(gen, i), pixels(expected, i)) for i in range(2))


@pytest.mark.slow
def test_withhold_never_sends_the_pixels(models, plain):
    gen = generated(engine_for(models["flags"], safety="withhold"))
    assert gen.nsfw == [True]
    assert (pixels(gen) == np.array(PLACEHOLDER_GREY, dtype=np.uint8)).all()
    assert pixels(gen).shape == pixels(generated(plain)).shape


@pytest.mark.slow
def test_blur_leaves_no_detail(models, plain):
    gen = generated(engine_for(models["flags"], safety="blur"))
    original = pixels(generated(plain)).astype(float)
    blurred = pixels(gen).astype(float)
    assert gen.nsfw == [True]
    detail = lambda a: np.abs(np.diff(a, axis=2)).mean()  # noqa: E731 - neighbour contrast
    assert detail(blurred) < detail(original) / 10


@pytest.mark.slow
def test_an_unflagged_output_passes_every_policy(models, plain):
    expected = pixels(generated(plain))
    gen = generated(engine_for(models["passes"], safety="withhold"))
    assert gen.nsfw == [False]
    assert np.array_equal(pixels(gen), expected)


def test_off_runs_no_checker(models, plain):
    engine = engine_for(models["flags"])
    assert engine.checker is None
    gen = generated(engine)
    assert gen.nsfw is None and "safety" not in gen.extra
    assert np.array_equal(pixels(gen), pixels(generated(plain)))


def test_a_policy_without_a_checker_fails_the_load(tiny_image_model):
    with pytest.raises(ModelNotReady, match=r"GENAI_SAFETY=blur: no safety checker"):
        engine_for(tiny_image_model, safety="blur")


@pytest.mark.slow
def test_a_models_own_checker_never_blacks_out_and_serves_the_policy(
    tiny_image_model, checkers, plain, tmp_path
):
    """An SD 1.x layout (safety_checker/ + feature_extractor/ in model_index.json): the
    pipeline would black flagged images out itself; the engine runs the checker by
    GENAI_SAFETY instead."""
    model = tmp_path / "sd1"
    shutil.copytree(tiny_image_model, model)
    shutil.copytree(checkers["flags"], model / "safety_checker")
    (model / "feature_extractor").mkdir()
    shutil.move(
        model / "safety_checker" / "preprocessor_config.json",
        model / "feature_extractor" / "preprocessor_config.json",
    )
    index = json.loads((model / "model_index.json").read_text())
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    index["requires_safety_checker"] = True
    (model / "model_index.json").write_text(json.dumps(index))
    expected = pixels(generated(plain))
    off = generated(engine_for(model))
    assert off.nsfw is None and np.array_equal(pixels(off), expected)  # not blacked out
    flagged = generated(engine_for(model, safety="flag"))
    assert flagged.nsfw == [True] and np.array_equal(pixels(flagged), expected)


@pytest.mark.slow
def test_every_frame_of_a_video_is_checked(tiny_video_model, checkers, tmp_path):
    model = packaged(tiny_video_model, tmp_path, safety_checker=checkers["flags"])
    engine = engine_for(model, safety="withhold")
    gen = generated(engine, num_frames=3, width=64, height=64)
    assert gen.nsfw == [True]
    assert len(gen.outputs[0]) == 3
    assert (pixels(gen) == np.array(PLACEHOLDER_GREY, dtype=np.uint8)).all()


def test_policies_on_given_flags():
    rng = np.random.default_rng(0)
    noise = [[Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8))]]
    two = noise + noise
    assert apply_policy("flag", two, [True, False]) is two
    held = apply_policy("withhold", two, [True, False])
    assert held[0][0].getcolors() == [(32 * 48, PLACEHOLDER_GREY)]
    assert held[1] is two[1]
    blurred = apply_policy("blur", two, [False, True])
    assert blurred[0] is two[0] and blurred[1][0].size == (48, 32)


def test_a_long_list_costs_what_a_short_one_does():
    """10,000 terms against a 2,000-character prompt: an index on first words, not one
    regular expression per term (which took minutes here)."""
    import time

    terms = [f"term{i} word{i % 7}" if i % 3 else f"term{i}" for i in range(10_000)]
    words = deny(*terms)
    prompt = ("a lighthouse over the sea at dawn, oil painting " * 50)[:2000]
    start = time.perf_counter()
    for _ in range(10):
        assert words.match(prompt) is None
    assert (time.perf_counter() - start) / 10 < 0.05  # measured: 0.35 ms
    assert words.match(prompt + " TERM9998  word2").term == "term9998 word2"
