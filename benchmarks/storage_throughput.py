"""The project's upload against each SDK's own default upload of the same files, on the real
storage emulators (moto server for S3, fake-gcs-server for GCS, Azurite for Azure Blob).

A generated package (``--mb``, default 300: a diffusers-like folder, one big UNet, a text
encoder, a VAE and small JSON files) goes to a fresh prefix of each emulator, alternately:
``upload_package`` (manifest-checked, sha256-verified while read, skip check per file) and
the plain SDK call a user would write (boto3 ``upload_file``, google-cloud-storage
``blob.upload_from_filename``, azure-storage-blob ``upload_blob``). Each run's objects are
deleted before the next (moto and fake-gcs-server keep them in memory). It prints the median
seconds per cloud and the ratio project ÷ SDK (a time ratio: above 1 is slower), and the
ratio of the best runs (the least disturbed by other work on the machine).

The emulator runs on the same CPUs as both clients, so on a busy machine the figures measure
CPU as much as I/O: the project's one cost the SDKs do not have, hashing every byte against
the manifest (sha256, about 0.2 s of CPU per 300 MB here), shows there and vanishes on a
network-bound upload.

A benchmark, not a test. Run:
    PYTHONPATH=$PWD .venv/bin/python benchmarks/storage_throughput.py [--mb 300] [--runs 3]
        [--clouds s3,gs,az]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.emulators import start_azurite, start_fake_gcs, start_moto
from tests.model_packages.upload.emulated import Bucket

MB = 1_000_000
SHARES = {  # roughly a Stable Diffusion 1.5 fp16 folder
    "unet/diffusion_pytorch_model.safetensors": 0.62,
    "text_encoder/model.safetensors": 0.25,
    "vae/diffusion_pytorch_model.safetensors": 0.13,
}


def make_package(root: Path, mb: int) -> Path:
    """A valid package of about ``mb`` MB of random bytes (random: nothing compresses)."""
    from tests.model_packages.upload.helpers import write_package

    weights = {rel: os.urandom(int(mb * MB * share)) for rel, share in SHARES.items()}
    weights["model_index.json"] = b'{"_class_name": "StableDiffusionPipeline"}'
    weights["scheduler/scheduler_config.json"] = b'{"num_train_timesteps": 1000}'
    return write_package(root / "package" / "azureml", weights)


def sdk_upload(bucket: Bucket) -> Callable[[list[tuple[Path, str]]], None]:
    """Each SDK's plain default upload of one file, as its documentation shows it."""
    sdk = bucket._sdk()
    if bucket.cloud == "s3":
        return lambda files: [sdk.upload_file(str(p), bucket.name, k) for p, k in files]
    if bucket.cloud == "gs":
        return lambda files: [sdk.blob(k).upload_from_filename(str(p)) for p, k in files]

    def azure(files: list[tuple[Path, str]]) -> None:
        for path, key in files:
            with open(path, "rb") as data:
                sdk.upload_blob(key, data, overwrite=True)

    return azure


def empty(bucket: Bucket) -> None:
    sdk = bucket._sdk()
    if bucket.cloud == "s3":
        for o in sdk.list_objects_v2(Bucket=bucket.name).get("Contents", []):
            sdk.delete_object(Bucket=bucket.name, Key=o["Key"])
    elif bucket.cloud == "gs":
        for blob in sdk.client.list_blobs(bucket.name):
            blob.delete()
    else:
        for blob in sdk.list_blobs():
            sdk.delete_blob(blob.name)


def measure(bucket: Bucket, package: Path, runs: int) -> tuple[list[float], list[float]]:
    import boto3

    from model_packages.upload import parse_destination, plan_upload, store_for, upload_package

    files = [(item.local_path, item.key) for item in plan_upload(package)]
    ours: list[float] = []
    theirs: list[float] = []
    with bucket.environment():
        boto3.DEFAULT_SESSION = None
        plain = sdk_upload(bucket)  # each side's client is made once, outside the timing
        store = store_for(parse_destination(bucket.url))
        for run in range(runs * 2):  # alternating, the SDK first
            prefix = f"run{run}"
            start = time.perf_counter()
            if run % 2:
                upload_package(package, f"{bucket.url}/{prefix}", store=store)
                ours.append(time.perf_counter() - start)
            else:
                plain([(path, f"{prefix}/{key}") for path, key in files])
                theirs.append(time.perf_counter() - start)
            empty(bucket)
    return ours, theirs


STARTERS = {"s3": start_moto, "gs": start_fake_gcs, "az": start_azurite}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300, help="package size in MB (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each upload (default 3)")
    parser.add_argument("--clouds", default="s3,gs,az", help="which emulators (s3,gs,az)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        package = make_package(work, args.mb)
        size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
        print(f"package: {size / MB:.0f} MB, {args.runs} runs each, alternating")
        print(
            f"{'cloud':6} {'project s':>10} {'SDK s':>8} {'project MB/s':>13} {'ratio':>6}"
            f" {'best-run ratio':>15}"
        )
        for cloud in args.clouds.split(","):
            emulator = STARTERS[cloud](work)
            try:
                bucket = Bucket(cloud, emulator, f"bench-{cloud}").create()
                ours, theirs = measure(bucket, package, args.runs)
            finally:
                emulator.stop()
            a, b = statistics.median(ours), statistics.median(theirs)
            best = min(ours) / min(theirs)
            print(
                f"{cloud:6} {a:10.2f} {b:8.2f} {size / MB / a:13.0f} {a / b:6.2f} {best:15.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
