"""The server's promises on the wire: refusals before the GPU, back-pressure with
Retry-After, 504 past the limit, health while a generation runs, slow clients, drain."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest

from genai_endpoints.commands.rehearsal import package_server
from tests.scoring.server.helpers import get, post, raw_request, read_response

pytestmark = pytest.mark.slow

SETTINGS = {
    "GENAI_MAX_QUEUE": "1",
    "GENAI_QUEUE_TIMEOUT_S": "1",
    "GENAI_REQUEST_TIMEOUT_S": "3",
    "GENAI_BODY_TIMEOUT_S": "3",
    "GENAI_BODY_IDLE_TIMEOUT_S": "1",
    "GENAI_MAX_REQUEST_BYTES": "300000",
}
SMALL = {"inputs": "x", "parameters": {"num_inference_steps": 2, "width": 64, "height": 64}}
# runs far past the 3 s limit on a CPU: stopped at the next step, answered 504
LONG = {"inputs": "x", "parameters": {"num_inference_steps": 100, "width": 512, "height": 512}}


@pytest.fixture(scope="module")
def sm(image_packages, tmp_path_factory):
    with package_server(
        "sagemaker", image_packages / "sagemaker", tmp_path_factory.mktemp("logs"), env=SETTINGS
    ) as server:
        yield server


def test_ready_route_says_what_is_served(sm):
    r = get(sm.port, "/ping")
    assert r.status == 200
    body = r.json()
    assert body["status"] == "ok" and body["contract"] == "sagemaker"
    assert "text-to-image" in body["tasks"]


def test_unknown_route_and_wrong_method_answer_json(sm):
    r = get(sm.port, "/nope")
    assert r.status == 404 and "POST /invocations" in r.json()["error"]["message"]
    r = get(sm.port, "/invocations")
    assert r.status == 405 and r.json()["error"]["message"] == "/invocations: use POST"


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"{not json", {}, 400, "body: not valid JSON"),
        (b'{"inputs": "x"}', {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b'{"inputs": "x"}', {"Accept": "text/html"}, 406, "Accept"),
        (json.dumps({"inputs": "x", "parameters": {"num_frames": 8}}).encode(), {}, 422, "task"),
        (json.dumps({"inputs": "x", "parameters": {"steps": 8}}).encode(), {}, 400, "steps"),
    ],
)
def test_refusals_are_4xx_json_naming_what_is_wrong(sm, body, headers, status, words):
    r = post(sm.port, "/invocations", body, headers)
    assert r.status == status, r.body
    assert words in r.json()["error"]["message"]
    assert post(sm.port, "/invocations", SMALL).status == 200  # and it keeps serving


def test_declared_oversize_body_is_refused_before_it_is_sent(sm):
    head = (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 999999999\r\n\r\n"
    )
    r = raw_request(sm.port, head, timeout=5)  # no body at all: the answer must not wait for it
    assert r.status == 413 and r.headers["connection"] == "close"
    assert r.json()["error"]["field"] == "body"
    assert r.seconds < 1


def test_a_moderately_oversize_body_is_read_refused_and_the_connection_kept(sm):
    """A client still sending its body gets the 413, not a reset, and can go on."""
    body = b'{"inputs": "' + b"x" * 1_000_000 + b'"}'  # over 300 kB, under 8x it
    head = (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    small = json.dumps(SMALL).encode()
    with socket.create_connection(("127.0.0.1", sm.port), timeout=20) as sock:
        start = time.perf_counter()
        sock.sendall(head + body)
        first = read_response(sock, start)
        assert first.status == 413 and first.headers.get("connection") != "close"
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(small)}\r\n\r\n".encode()
            + small
        )
        assert read_response(sock, time.perf_counter()).status == 200


def test_chunked_body_over_the_limit_is_cut_off(sm):
    with socket.create_connection(("127.0.0.1", sm.port), timeout=10) as sock:
        start = time.perf_counter()
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 100_000
        try:
            for _ in range(10):  # 1 MB against a 300 kB limit
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass  # the server may close before we finish: that is the point
        r = read_response(sock, start)
    assert r.status == 413 and r.json()["error"]["message"] == "body: more than 300000 bytes"


def test_a_slow_client_gets_408_and_blocks_nobody(sm):
    result = {}

    def slow():
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", sm.port), timeout=20) as sock:
            sock.sendall(
                b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 500\r\n\r\n{"
            )  # one byte of 500, then silence
            result["slow"] = read_response(sock, start)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    normal = post(sm.port, "/invocations", SMALL)
    t.join(20)
    assert normal.status == 200 and normal.seconds < 2  # not held up by the slow one
    slow_answer = result["slow"]
    assert slow_answer.status == 408 and slow_answer.json()["error"]["field"] == "body"
    assert 0.9 < slow_answer.seconds < 3  # GENAI_BODY_IDLE_TIMEOUT_S=1


def test_backpressure_timeout_and_health_while_generating(sm):
    """One long generation holds the GPU: a second request waits its queue timeout (503),
    a third finds the queue full (429), both with Retry-After; health answers fast all
    along; the long one is stopped at its limit (504); then the server serves again."""
    answers = {}

    def call(name, payload):
        answers[name] = post(sm.port, "/invocations", payload)

    long = threading.Thread(target=call, args=("long", LONG))
    long.start()
    time.sleep(0.5)
    waiter = threading.Thread(target=call, args=("waiter", SMALL))
    waiter.start()
    time.sleep(0.3)
    call("full", SMALL)
    probes = [get(sm.port, "/ping") for _ in range(15)]
    waiter.join(10)
    long.join(20)

    full, waited, stopped = answers["full"], answers["waiter"], answers["long"]
    assert full.status == 429 and int(full.headers["retry-after"]) >= 1
    assert full.seconds < 0.5  # refused at once, not after waiting
    assert waited.status == 503 and int(waited.headers["retry-after"]) >= 1
    assert 0.9 < waited.seconds < 2.5
    assert stopped.status == 504 and "3 s limit" in stopped.json()["error"]["message"]
    assert all(p.status == 200 for p in probes)
    assert max(p.seconds for p in probes) < 0.1, [round(p.seconds, 3) for p in probes]
    assert post(sm.port, "/invocations", SMALL).status == 200


def test_raw_bytes_carry_the_seed_header(sm):
    payload = {"inputs": "x", "parameters": {"num_inference_steps": 2, "seed": 42}}
    r = post(sm.port, "/invocations", payload, {"Accept": "image/png"})
    assert r.status == 200 and r.headers["content-type"] == "image/png"
    assert r.headers["x-genai-seed"] == "42" and r.body.startswith(b"\x89PNG")


def test_sigterm_drains_requests_in_flight_then_exits_0(image_packages, tmp_path):
    slow = {"inputs": "x", "parameters": {"num_inference_steps": 8, "width": 384, "height": 384}}
    with package_server("sagemaker", image_packages / "sagemaker", tmp_path) as server:
        answers = {}
        t = threading.Thread(target=lambda: answers.update(a=post(server.port, "/invocations",
                                                                  slow)))  # fmt: skip
        t.start()
        time.sleep(0.4)
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(OSError):  # no new connections once draining
            get(server.port, "/ping")
        t.join(30)
        assert server.process.wait(30) == 0
        assert answers["a"].status == 200
        assert "Finished server process" in server.log() or "Shutting down" in server.log()
