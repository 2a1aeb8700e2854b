"""Nothing left behind in the stacks' buckets: each has one lifecycle rule that aborts
multipart uploads left unfinished and (SageMaker) expires the async prefixes; the weights
are never expired."""

from __future__ import annotations

import copy

import pytest

from infra.aws.storage import ASYNC_FAILURE_PREFIX, ASYNC_INPUT_PREFIX, ASYNC_OUTPUT_PREFIX
from infra.synth import SynthError
from tests.infra.aws.test_program import STACKS, aws_only
from tests.infra.gcp.helpers import STACKS as GCP_STACKS
from tests.infra.gcp.helpers import gcp_stack_config
from tests.infra.helpers import one, run_config, stack_result

LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
ASYNC = (ASYNC_INPUT_PREFIX, ASYNC_OUTPUT_PREFIX, ASYNC_FAILURE_PREFIX)


def _aws(stack: str, **lifecycle) -> dict:
    config = aws_only(stack)
    config["genai-endpoints:aws"] = dict(copy.deepcopy(config["genai-endpoints:aws"]))
    config["genai-endpoints:aws"]["lifecycle"] = lifecycle
    return config


def _rules(result) -> dict[str, dict]:
    return {r["id"]: r for r in one(result, LIFECYCLE)["rules"]}


@pytest.mark.parametrize("stack", STACKS)
def test_the_sagemaker_bucket_aborts_unfinished_uploads_and_expires_async_prefixes(stack):
    result = stack_result(stack)
    (found,) = result.by_type(LIFECYCLE)  # one per bucket: a second would fight the first
    assert {"sagemaker-bucket", "sagemaker-bucket-versioning"} <= set(found["depends_on"])
    rules = _rules(result)
    abort = rules.pop("abort-incomplete-multipart-uploads")
    assert abort["status"] == "Enabled" and abort["filter"] == {}  # the whole bucket
    assert abort["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert sorted(r["filter"]["prefix"] for r in rules.values()) == sorted(ASYNC)
    for rule in rules.values():
        assert rule["status"] == "Enabled"
        assert rule["expiration"] == {"days": 7}
        assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 1}  # versioned
        assert not rule["filter"]["prefix"].startswith("models/")  # weights are kept


def test_the_days_are_settings_and_async_expiry_can_be_switched_off():
    rules = _rules(run_config(_aws("staging", abortIncompleteUploadDays=2, asyncExpirationDays=30)))
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
        "daysAfterInitiation": 2
    }
    assert {r["expiration"]["days"] for r in rules.values() if "expiration" in r} == {30}
    kept = _rules(run_config(_aws("staging", asyncExpirationDays=None)))
    assert list(kept) == ["abort-incomplete-multipart-uploads"]


@pytest.mark.parametrize(
    ("lifecycle", "expected"),
    [
        ({"abortIncompleteUploadDays": 0}, "aws.lifecycle.abortIncompleteUploadDays=0"),
        ({"asyncExpirationDays": -1}, "aws.lifecycle.asyncExpirationDays=-1"),
        ({"expireWeights": True}, "unknown key genai-endpoints:aws.lifecycle.expireWeights"),
    ],
)
def test_bad_lifecycle_settings_are_one_line(lifecycle, expected):
    with pytest.raises(SynthError) as info:
        run_config(_aws("dev", **lifecycle))
    assert "\n" not in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_the_gcs_bucket_aborts_unfinished_multipart_uploads(stack):
    result = run_config(gcp_stack_config(stack), stack=stack)
    (rule,) = one(result, GCS_BUCKET)["lifecycleRules"]  # nothing else: it holds weights only
    assert rule == {
        "action": {"type": "AbortIncompleteMultipartUpload"},
        "condition": {"age": 7},
    }


def test_the_gcs_abort_age_is_a_setting():
    config = gcp_stack_config("staging")
    lifecycle = {"abortIncompleteUploadDays": 3}
    config["genai-endpoints:gcp"] = {**config["genai-endpoints:gcp"], "lifecycle": lifecycle}
    (rule,) = one(run_config(config, stack="staging"), GCS_BUCKET)["lifecycleRules"]
    assert rule["condition"] == {"age": 3}
