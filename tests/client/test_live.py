"""Opt-in: call real targets, one test per cloud, skipped without credentials.

Set ``GENAI_LIVE_TARGETS`` to a targets file naming deployed endpoints (``stack:`` or
``outputs:``) and/or managed APIs; every target of that cloud's kinds is called once with a
small request (our endpoints: seeded, then again to see the cache hit). Costs a few cents.
Run: ``GENAI_LIVE_TARGETS=live.yaml pytest -m live tests/client/test_live.py``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from genai_endpoints.client import Client
from genai_endpoints.client.targets import OUR_KINDS, load_targets

LIVE = os.environ.get("GENAI_LIVE_TARGETS")
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE, reason="GENAI_LIVE_TARGETS (a targets file) is not set"),
]


def _aws() -> bool:
    try:
        import boto3

        return boto3.session.Session().get_credentials() is not None
    except Exception:
        return False


def _gcp() -> bool:
    try:
        import google.auth

        google.auth.default()
        return True
    except Exception:
        return False


def _azure() -> bool:
    try:
        from azure.identity import DefaultAzureCredential

        DefaultAzureCredential().get_token("https://management.azure.com/.default")
        return True
    except Exception:
        return False


CLOUDS = {
    "aws": (("sagemaker", "sagemaker-async", "bedrock"), _aws),
    "gcp": (("vertex", "imagen"), _gcp),
    "azure": (("azureml", "azure-openai"), _azure),
}


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
def test_live_targets_of_one_cloud(cloud, tmp_path):
    kinds, has_credentials = CLOUDS[cloud]
    names = [t.name for t in load_targets(Path(LIVE)).targets if t.kind in kinds]
    if not names:
        pytest.skip(f"no {cloud} targets ({', '.join(kinds)}) in {LIVE}")
    if not has_credentials():
        pytest.skip(f"no {cloud} credentials in the SDK's default chain")
    from PIL import Image

    with Client.from_file(LIVE, cache=str(tmp_path / "cache"), history=tmp_path / "h.db") as c:
        for name in names:
            target = c.targets.get(name)
            ours = target.kind in OUR_KINDS
            request = {"prompt": "a red square on a white background"}
            if ours:
                request.update(seed=1, num_inference_steps=4)
            result = c.invoke(name, request)
            assert result.outputs, name
            Image.open(io.BytesIO(result.outputs[0].data)).verify()
            if ours and result.cache == "miss":
                assert c.invoke(name, request).cache == "hit", name
