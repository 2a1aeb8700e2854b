"""The Python API end to end against fakes: Retry-After, fallback, cache, history,
the selector's choice under each priority, and secrets kept out of every message."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genai_endpoints.client.errors import (
    CallError,
    UnsupportedRequest,
    parse_retry_after,
    redact,
    register_secret,
)
from genai_endpoints.client.history import History, percentile
from tests.client.helpers import Reply, contract_answer, make_client, png_bytes

PNG = png_bytes()
OTHER = png_bytes((200, 0, 0))


def two_targets(a: str, b: str, extra: str = "") -> str:
    return f"""
targets:
  - name: first
    kind: sagemaker
    url: {a}
    model_revision: r1
    retry_budget_s: 10
    timeout_s: 0.5
{extra}
  - name: second
    kind: azureml
    url: {b}
    model_revision: r1
"""


# -- retries ----------------------------------------------------------------------------
def test_retry_after_is_honoured_on_429_then_succeeds(tmp_path, fake):
    fake.reply(Reply(429, {"error": {"message": "queue full"}}, {"Retry-After": "2"}),
               Reply(body=contract_answer(PNG)))  # fmt: skip
    sleeps: list = []
    client = make_client(tmp_path, two_targets(fake.url, fake.url), sleeps=sleeps)
    result = client.invoke("first", {"prompt": "x", "seed": 1})
    assert sleeps == [2.0] and result.attempts == 2 and len(fake.seen) == 2


def test_http_date_retry_after():
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= parse_retry_after(when) <= 31
    assert parse_retry_after("junk") is None and parse_retry_after("7") == 7.0


def test_retry_after_beyond_the_budget_is_not_waited_for(tmp_path, fake):
    fake.reply(Reply(503, {"error": {"message": "busy"}}, {"Retry-After": "30"}))
    sleeps: list = []
    client = make_client(tmp_path, two_targets(fake.url, fake.url), sleeps=sleeps)
    with pytest.raises(CallError, match="503 busy") as info:
        client.invoke("first", {"prompt": "x"})
    assert sleeps == [] and len(fake.seen) == 1 and info.value.status == 503


def test_4xx_is_not_retried(tmp_path, fake):
    fake.reply(Reply(400, {"error": {"message": "seed: must be at most 4294967295"}}))
    client = make_client(tmp_path, two_targets(fake.url, fake.url), sleeps=[])
    with pytest.raises(CallError, match="seed: must be"):
        client.invoke("first", {"prompt": "x"})
    assert len(fake.seen) == 1


def test_backoff_without_retry_after_stays_in_budget(tmp_path, fake):
    fake.reply(Reply(503, {"error": {"message": "busy"}}))
    sleeps: list = []
    client = make_client(tmp_path, two_targets(fake.url, fake.url), sleeps=sleeps)
    with pytest.raises(CallError):
        client.invoke("first", {"prompt": "x"})
    # waits are growing, and their sum stays inside the 10 s budget (fake sleep: no time passes)
    assert len(sleeps) >= 2 and sleeps == sorted(sleeps) and sum(sleeps) < 10


# -- fallback -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "failure",
    [
        Reply(429, {"error": {"message": "full"}}, {"Retry-After": "60"}),
        Reply(500, {"error": {"message": "boom"}}),
        Reply(502, b"bad gateway"),
        Reply(body=contract_answer(PNG), delay_s=2.0),  # past timeout_s 0.5
    ],
    ids=["429", "500", "502", "timeout"],
)
def test_generate_falls_back_to_the_next_target(tmp_path, fake, fake2, failure):
    fake.reply(failure)
    fake2.reply(Reply(body=contract_answer(OTHER)))
    client = make_client(tmp_path, two_targets(fake.url, fake2.url))
    result = client.generate({"prompt": "x", "seed": 3}, priority="quality")  # file order
    assert result.target == "second" and result.outputs[0].data == OTHER
    assert result.fallbacks and result.fallbacks[0].startswith("first: ")
    # the failure is in the history the selector reads
    assert client.history.stats("first").errors == 1


def test_a_bad_request_does_not_fall_back(tmp_path, fake, fake2):
    fake.reply(Reply(400, {"error": {"message": "width: must be a multiple of 8"}}))
    client = make_client(tmp_path, two_targets(fake.url, fake2.url))
    with pytest.raises(CallError, match="width: must be a multiple of 8"):
        client.generate({"prompt": "x"}, priority="quality")
    assert not fake2.seen


def test_every_target_failing_says_each_reason(tmp_path, fake, fake2):
    fake.reply(Reply(500, {"error": {"message": "one"}}))
    fake2.reply(Reply(503, {"error": {"message": "two"}}, {"Retry-After": "99"}))
    client = make_client(tmp_path, two_targets(fake.url, fake2.url))
    with pytest.raises(CallError, match=r"every target failed: first: .*one \| second: .*two"):
        client.generate({"prompt": "x"})


def test_a_named_target_never_falls_back(tmp_path, fake, fake2):
    fake.reply(Reply(500, {"error": {"message": "boom"}}))
    client = make_client(tmp_path, two_targets(fake.url, fake2.url))
    with pytest.raises(CallError, match="boom"):
        client.generate({"prompt": "x"}, target="first")
    assert not fake2.seen


def test_request_errors_are_named_before_any_call(tmp_path, fake):
    client = make_client(tmp_path, two_targets(fake.url, fake.url))
    with pytest.raises(UnsupportedRequest, match="num_inference_steps: must be greater"):
        client.invoke("first", {"prompt": "x", "num_inference_steps": 0})
    assert not fake.seen


# -- cache --------------------------------------------------------------------------------
def test_second_identical_seeded_call_is_a_cache_hit(tmp_path, fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(tmp_path, two_targets(fake.url, fake.url))
    first = client.invoke("first", {"prompt": "x", "seed": 5})
    second = client.invoke("first", {"prompt": "x", "seed": 5})
    assert (first.cache, second.cache) == ("miss", "hit") and len(fake.seen) == 1
    assert second.outputs[0].data == PNG and second.outputs[0].seed == 7
    assert second.cost_usd == 0.0
    # another seed, another prompt or another target is a different key
    client.invoke("first", {"prompt": "x", "seed": 6})
    client.invoke("first", {"prompt": "y", "seed": 5})
    client.invoke("second", {"prompt": "x", "seed": 5})
    assert len(fake.seen) == 4
    # cache hits are not measurements
    assert client.history.stats("first").calls == 3


def test_unseeded_requests_are_never_cached(tmp_path, fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(tmp_path, two_targets(fake.url, fake.url))
    a = client.invoke("first", {"prompt": "x"})
    b = client.invoke("first", {"prompt": "x"})
    assert (a.cache, b.cache) == ("off", "off") and "no seed" in a.cache_note
    assert len(fake.seen) == 2


def test_unknown_model_revision_is_not_cached(tmp_path, fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(tmp_path, f"targets:\n  - {{name: a, kind: vertex, url: '{fake.url}'}}\n")
    fake.reply(Reply(body=contract_answer(PNG, vertex=True)))
    r = client.invoke("a", {"prompt": "x", "seed": 1})
    assert r.cache == "off" and "model revision unknown" in r.cache_note


def test_a_damaged_blob_is_a_miss_not_wrong_bytes(tmp_path, fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(tmp_path, two_targets(fake.url, fake.url))
    client.invoke("first", {"prompt": "x", "seed": 5})
    for blob in (tmp_path / "cache" / "blobs").rglob("*"):
        if blob.is_file():
            blob.write_bytes(b"tampered")
    again = client.invoke("first", {"prompt": "x", "seed": 5})
    assert again.cache == "miss" and again.outputs[0].data == PNG and len(fake.seen) == 2
    assert "damaged" in again.cache_note and "sha256" in again.cache_note
    # the live answer rewrote the damaged blob: the next call is a hit, not live forever
    healed = client.invoke("first", {"prompt": "x", "seed": 5})
    assert healed.cache == "hit" and healed.outputs[0].data == PNG and len(fake.seen) == 2
    stats = client.cache.stats
    assert (stats.hits, stats.misses, stats.damaged, stats.healed) == (1, 2, 1, 1)


def test_no_cache_means_neither_read_nor_write(tmp_path, fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(tmp_path, two_targets(fake.url, fake.url), cache=False)
    client.invoke("first", {"prompt": "x", "seed": 5})
    client.invoke("first", {"prompt": "x", "seed": 5})
    assert len(fake.seen) == 2 and not (tmp_path / "cache").exists()


# -- selector -----------------------------------------------------------------------------
SELECT_YAML = """
targets:
  - {name: cheap-slow, kind: sagemaker, url: 'http://127.0.0.1:1', price_per_hour: 1.0,
     quality_score: 60}
  - {name: fast, kind: vertex, url: 'http://127.0.0.1:2', price_per_hour: 10.0, quality_score: 70}
  - {name: pretty, kind: bedrock, model: amazon.nova-canvas-v1:0, quality_score: 95}
  - {name: flaky, kind: azureml, url: 'http://127.0.0.1:3', price_per_hour: 0.1, quality_score: 99}
  - {name: video, kind: azureml, url: 'http://127.0.0.1:4', price_per_hour: 0.5,
     tasks: [text-to-video]}
"""


def seeded_history(h: History) -> None:
    for _ in range(5):
        h.record(
            target="cheap-slow",
            identity="a",
            task=None,
            ok=True,
            latency_s=4.0,
            server_s=3.6,
            images=1,
        )
        h.record(
            target="fast", identity="b", task=None, ok=True, latency_s=0.5, server_s=0.4, images=1
        )
        h.record(target="pretty", identity="c", task=None, ok=True, latency_s=2.0, images=1)
    for ok in (False, False, True, False):
        h.record(
            target="flaky", identity="d", task=None, ok=ok, latency_s=0.2, server_s=0.1, images=1
        )


@pytest.mark.parametrize(
    ("priority", "order"),
    [
        # $/image: cheap-slow 1 $/h × 3.6 s = $0.001; fast 10 $/h × 0.4 s = $0.0011; nova $0.04
        ("cost", ["cheap-slow", "fast", "pretty", "flaky"]),
        ("speed", ["fast", "pretty", "cheap-slow", "flaky"]),
        ("quality", ["pretty", "fast", "cheap-slow", "flaky"]),
        ("balanced", ["fast", "cheap-slow", "pretty", "flaky"]),
    ],
)
def test_selector_choice_under_each_priority(tmp_path, priority, order):
    client = make_client(tmp_path, SELECT_YAML)
    seeded_history(client.history)
    ranked = client.select(priority, task="text-to-image")
    usable = [c.name for c in ranked if c.unavailable is None]
    assert usable == order  # flaky (3 of 4 failed) is last whatever its price or quality
    assert "unhealthy" in ranked[usable.index("flaky")].reason
    video = next(c for c in ranked if c.name == "video")
    assert video.unavailable == "cannot do text-to-image (can do text-to-video)"
    best = ranked[0]
    assert best.reason and "$" in best.reason


def test_selector_explains_cost_basis(tmp_path):
    client = make_client(tmp_path, SELECT_YAML)
    seeded_history(client.history)
    by_name = {c.name: c for c in client.select("cost")}
    assert by_name["cheap-slow"].cost_per_image == pytest.approx(1.0 * 3.6 / 3600)
    assert "$1/h × 3.60 s/image measured" in by_name["cheap-slow"].cost_basis
    assert by_name["pretty"].cost_per_image == 0.04 and "list price" in by_name["pretty"].cost_basis


def test_selector_without_history_uses_list_prices_and_declared_quality(tmp_path):
    client = make_client(tmp_path, SELECT_YAML)
    assert client.select("cost")[0].name == "pretty"  # the only known $/image
    assert client.select("quality")[0].name == "flaky"  # 99, and no failures recorded yet


def test_unresolvable_target_is_listed_not_fatal(tmp_path):
    client = make_client(
        tmp_path,
        SELECT_YAML + "  - {name: prod, kind: sagemaker, outputs: missing.json}\n",
    )
    prod = next(c for c in client.select("speed") if c.name == "prod")
    assert prod.unavailable and "cannot read" in prod.unavailable


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([5.0], 95) == 5.0


# -- secrets ------------------------------------------------------------------------------
def test_secrets_never_reach_messages(tmp_path, fake, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sk-very-secret-key-0001")
    # a proxy that echoes the key back in its error body
    fake.reply(Reply(401, {"error": {"message": "bad key sk-very-secret-key-0001"}}))
    yaml_text = f"""
targets:
  - {{name: d, kind: azure-openai, endpoint: '{fake.url}', deployment: d3}}
"""
    client = make_client(tmp_path, yaml_text)
    with pytest.raises(CallError) as info:
        client.invoke("d", {"prompt": "x"})
    assert "sk-very-secret-key-0001" not in info.value.message and "***" in info.value.message
    rows = client.history.db.execute("SELECT error FROM calls").fetchall()
    assert rows and all("sk-very-secret" not in (r[0] or "") for r in rows)


def test_redact_registry():
    register_secret("abc")  # too short to be a secret: ignored
    register_secret("token-xyz-123456")
    assert redact("x token-xyz-123456 abc") == "x *** abc"


# -- bad input fuzzing ------------------------------------------------------------------------
FIELD_NAMES = ("prompt", "seed", "width", "height", "num_inference_steps", "guidance_scale",
               "num_outputs", "output_format", "task", "image", "bogus")  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from(FIELD_NAMES),
        st.none() | st.integers(-5, 5000) | st.floats(allow_nan=True) | st.text(max_size=5),
        max_size=6,
    )
)
def test_any_request_is_sent_or_refused_by_name_before_a_call(tmp_path, fake, request_fields):
    """Whatever a caller passes: outputs, or a one-line error naming a field, and a refused
    request never reaches the backend."""
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(tmp_path, two_targets(fake.url, fake.url), cache=False)
    before = len(fake.seen)
    try:
        result = client.invoke("first", request_fields)
    except UnsupportedRequest as exc:
        assert exc.field and "\n" not in exc.message
        assert len(fake.seen) == before
    else:
        assert result.outputs and len(fake.seen) == before + 1
    finally:
        client.close()


def test_small_prices_keep_two_significant_digits():
    from genai_endpoints.client.selector import dollars

    assert dollars(1.635e-05) == "$0.000016"
    assert dollars(0.00099) == "$0.00099"
    assert dollars(2.5) == "$2.5000"
