"""LoRA, scheduler and safety through every cloud contract: one package with an adapter,
a safety checker that flags everything and a deny list, served as each cloud starts it."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from genai_endpoints.commands.rehearsal import package_server
from tests.tiny_adapters import packaged, tiny_lora, tiny_safety_checker

pytestmark = pytest.mark.slow
CLOUDS = ("sagemaker", "vertex", "azureml")
ENV = {"GENAI_SAFETY": "blur", "GENAI_DENY_TERMS": json.dumps(["harbour wall"])}
BASE = {"prompt": "a lighthouse", "num_inference_steps": 2, "seed": 6, "width": 64, "height": 64}


def envelope(cloud: str, request: dict) -> dict:
    rest = {k: v for k, v in request.items() if k != "prompt"}
    if cloud == "sagemaker":
        return {"inputs": request["prompt"], "parameters": rest}
    if cloud == "vertex":
        return {"instances": [{"prompt": request["prompt"]}], "parameters": rest}
    return request


def answer(cloud: str, body: dict) -> dict:
    return body["predictions"][0] if cloud == "vertex" else body


def pixels(cloud: str, body: dict) -> np.ndarray:
    data = base64.b64decode(answer(cloud, body)["outputs"][0]["data"])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


@pytest.fixture(scope="module")
def servers(tiny_image_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters-http")
    terms = root / "deny.txt"
    terms.write_text("red fox\n")
    packaged(
        tiny_image_model,
        root / "pkg",
        loras={"ink": tiny_lora(tiny_image_model, root / "ink.safetensors", seed=5)},
        safety_checker=tiny_safety_checker(root / "checker", flags=True),
        deny_terms=terms,
        clouds=CLOUDS,
    )
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(CLOUDS)) as pool:
        managers = {c: package_server(c, root / "pkg" / c, root / "logs", env=ENV) for c in CLOUDS}
        futures = {c: pool.submit(m.__enter__) for c, m in managers.items()}
        running, failures = {}, []
        for cloud, future in futures.items():
            try:
                running[cloud] = future.result()
                stack.push(managers[cloud].__exit__)
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        yield running


def call(server, cloud: str, **fields):
    return server.predict(envelope(cloud, {**BASE, **fields}))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_lora_and_scheduler_requests(servers, cloud):
    server = servers[cloud]
    replies = {
        "plain": call(server, cloud),
        "lora": call(server, cloud, loras=[{"name": "ink", "scale": 1.0}]),
        "euler": call(server, cloud, scheduler="euler"),
        "plain again": call(server, cloud),
    }
    for name, reply in replies.items():
        assert reply.status == 200, (cloud, name, reply.body[:300])
    images = {name: pixels(cloud, reply.json()) for name, reply in replies.items()}
    assert not np.array_equal(images["lora"], images["plain"])
    assert not np.array_equal(images["euler"], images["plain"])
    assert np.array_equal(images["plain again"], images["plain"])  # nothing carried over


@pytest.mark.parametrize("cloud", CLOUDS)
def test_refusals_name_the_field(servers, cloud):
    server = servers[cloud]
    for fields, where, words in [
        ({"prompt": "A Red  Fox"}, "prompt", "rule safety/deny_terms.txt line 1: 'red fox'"),
        ({"prompt": "the harbour wall"}, "prompt", "rule GENAI_DENY_TERMS[0]"),
        ({"loras": [{"name": "oil"}]}, "loras.0.name", "unknown LoRA 'oil'; this deployment"),
        ({"scheduler": "lms"}, "scheduler", "must be 'dpm++'"),
    ]:
        reply = call(server, cloud, **fields)
        assert reply.status == 400, (cloud, fields)
        error = reply.json()["error"]
        if cloud == "sagemaker" and where == "prompt":
            where = "inputs"  # the envelope's own name for the prompt
        assert error["field"].endswith(where) and words in error["message"], (cloud, error)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_flagged_output_is_blurred(servers, cloud):
    reply = call(servers[cloud], cloud)
    assert reply.status == 200
    image = pixels(cloud, reply.json())
    # the tiny model's raw output is noise (neighbouring pixels differ by tens of levels);
    # blurred with a radius of 8 px, next to nothing is left between neighbours
    assert np.abs(np.diff(image, axis=1)).mean() < 3


@pytest.mark.parametrize("cloud", CLOUDS)
def test_the_answer_carries_the_nsfw_flag(servers, cloud):
    body = answer(cloud, call(servers[cloud], cloud).json())
    assert body["outputs"][0]["nsfw"] is True
    assert body["metadata"]["safety"] == "blur"
