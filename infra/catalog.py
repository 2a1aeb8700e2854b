"""GPU instance catalog per cloud: what each type holds and roughly what it costs.

Used to validate stack config (a GPU type for a GPU endpoint; enough GPU memory for the
model in the manifest) and to export cost estimates. Prices are on-demand list prices for
the region named on each entry, transcribed by hand from the providers' public price pages
on ``PRICE_DATE``; they drift, so every exported figure carries region and date and is an
estimate, not a quote. Update the table (and the date) rather than computing prices live:
a preview must not need network access.

Speed: :func:`step_seconds` is the time of one denoising step of a ~1-megapixel SDXL-class
image on a GPU. It comes from ``infra/benchmarks.json`` (written by ``benchmarks/gpu.py
--write-catalog`` on that GPU class) where a figure exists, else from a small table of
rough public figures. :func:`images_per_hour` and :func:`usd_per_1000_images` answer only
from measured figures: no invented throughput.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PRICE_DATE = "2025-06-01"

# Diffusers pipelines need room for activations, VAE decode and the CUDA context beyond
# the weights themselves: require this much GPU memory (on one GPU) per byte of weights.
GPU_MEMORY_HEADROOM = 1.5


@dataclass(frozen=True)
class GpuInstance:
    cloud: str
    name: str
    gpu: str
    gpu_count: int
    gpu_memory_gib: float  # per GPU
    usd_per_hour: float
    region: str
    local_storage_gb: int = 0  # NVMe instance storage; 0 = needs an EBS volume
    accelerator: str | None = None  # Vertex: the accelerator type paired with the machine
    price_date: str = PRICE_DATE


@dataclass(frozen=True)
class CpuInstance:
    """A known non-GPU type, listed so config errors can say *why* it is refused."""

    cloud: str
    name: str
    kind: str  # "cpu", "inferentia", "trainium"


def _sm(name, gpu, count, mem, price, nvme):
    return GpuInstance("sagemaker", name, gpu, count, mem, price, "us-east-1", nvme)


# SageMaker real-time / async inference, us-east-1, on-demand.
SAGEMAKER: dict[str, GpuInstance] = {
    i.name: i
    for i in (
        _sm("ml.g4dn.xlarge", "NVIDIA T4", 1, 16, 0.736, 125),
        _sm("ml.g4dn.2xlarge", "NVIDIA T4", 1, 16, 0.94, 225),
        _sm("ml.g4dn.12xlarge", "NVIDIA T4", 4, 16, 4.89, 900),
        _sm("ml.g5.xlarge", "NVIDIA A10G", 1, 24, 1.408, 250),
        _sm("ml.g5.2xlarge", "NVIDIA A10G", 1, 24, 1.515, 450),
        _sm("ml.g5.4xlarge", "NVIDIA A10G", 1, 24, 2.03, 600),
        _sm("ml.g5.8xlarge", "NVIDIA A10G", 1, 24, 3.06, 900),
        _sm("ml.g5.12xlarge", "NVIDIA A10G", 4, 24, 7.09, 3800),
        _sm("ml.g5.48xlarge", "NVIDIA A10G", 8, 24, 20.36, 7600),
        _sm("ml.g6.xlarge", "NVIDIA L4", 1, 24, 1.0064, 250),
        _sm("ml.g6.2xlarge", "NVIDIA L4", 1, 24, 1.222, 450),
        _sm("ml.g6.4xlarge", "NVIDIA L4", 1, 24, 1.651, 600),
        _sm("ml.g6.12xlarge", "NVIDIA L4", 4, 24, 5.752, 3760),
        _sm("ml.g6e.xlarge", "NVIDIA L40S", 1, 48, 2.336, 250),
        _sm("ml.g6e.2xlarge", "NVIDIA L40S", 1, 48, 2.81, 450),
        _sm("ml.g6e.4xlarge", "NVIDIA L40S", 1, 48, 3.759, 600),
        _sm("ml.g6e.12xlarge", "NVIDIA L40S", 4, 48, 13.117, 3800),
        _sm("ml.g6e.48xlarge", "NVIDIA L40S", 8, 48, 37.669, 7600),
        _sm("ml.p4d.24xlarge", "NVIDIA A100 40GB", 8, 40, 37.688, 8000),
        _sm("ml.p4de.24xlarge", "NVIDIA A100 80GB", 8, 80, 47.11, 8000),
        _sm("ml.p5.48xlarge", "NVIDIA H100", 8, 80, 113.07, 30400),
    )
}


def _vx(machine, accel, gpu, count, mem, price):
    return GpuInstance("vertex", machine, gpu, count, mem, price, "us-central1", 0, accel)


# Vertex AI online prediction: machine type + accelerator (price includes both), us-central1.
VERTEX: dict[str, GpuInstance] = {
    i.name: i
    for i in (
        _vx("n1-standard-8", "NVIDIA_TESLA_T4", "NVIDIA T4", 1, 16, 0.8625),
        _vx("g2-standard-8", "NVIDIA_L4", "NVIDIA L4", 1, 24, 1.0283),
        _vx("g2-standard-24", "NVIDIA_L4", "NVIDIA L4", 2, 24, 2.3208),
        _vx("a2-highgpu-1g", "NVIDIA_TESLA_A100", "NVIDIA A100 40GB", 1, 40, 4.2245),
        _vx("a2-ultragpu-1g", "NVIDIA_A100_80GB", "NVIDIA A100 80GB", 1, 80, 5.8642),
        _vx("a3-highgpu-8g", "NVIDIA_H100_80GB", "NVIDIA H100", 8, 80, 101.0074),
    )
}


def _az(sku, gpu, count, mem, price):
    return GpuInstance("azureml", sku, gpu, count, mem, price, "eastus", 0)


# Azure ML managed online endpoints (VM price), eastus, pay-as-you-go.
AZUREML: dict[str, GpuInstance] = {
    i.name: i
    for i in (
        _az("Standard_NC4as_T4_v3", "NVIDIA T4", 1, 16, 0.526),
        _az("Standard_NC8as_T4_v3", "NVIDIA T4", 1, 16, 0.752),
        _az("Standard_NV36ads_A10_v5", "NVIDIA A10", 1, 24, 3.20),
        _az("Standard_NC24ads_A100_v4", "NVIDIA A100 80GB", 1, 80, 3.673),
        _az("Standard_NC40ads_H100_v5", "NVIDIA H100 NVL", 1, 94, 6.98),
        _az("Standard_ND96asr_v4", "NVIDIA A100 40GB", 8, 40, 27.197),
        _az("Standard_ND96amsr_A100_v4", "NVIDIA A100 80GB", 8, 80, 32.77),
    )
}

GPU: dict[str, dict[str, GpuInstance]] = {
    "sagemaker": SAGEMAKER,
    "vertex": VERTEX,
    "azureml": AZUREML,
}

NON_GPU: dict[str, dict[str, CpuInstance]] = {
    "sagemaker": {
        c.name: c
        for c in (
            CpuInstance("sagemaker", "ml.t2.medium", "cpu"),
            CpuInstance("sagemaker", "ml.m5.large", "cpu"),
            CpuInstance("sagemaker", "ml.m5.xlarge", "cpu"),
            CpuInstance("sagemaker", "ml.m5.2xlarge", "cpu"),
            CpuInstance("sagemaker", "ml.c5.xlarge", "cpu"),
            CpuInstance("sagemaker", "ml.c5.2xlarge", "cpu"),
            CpuInstance("sagemaker", "ml.c6i.xlarge", "cpu"),
            CpuInstance("sagemaker", "ml.inf2.xlarge", "inferentia"),
            CpuInstance("sagemaker", "ml.inf2.8xlarge", "inferentia"),
            CpuInstance("sagemaker", "ml.trn1.2xlarge", "trainium"),
        )
    },
    "vertex": {c.name: c for c in (CpuInstance("vertex", "n1-standard-4", "cpu"),)},
    "azureml": {c.name: c for c in (CpuInstance("azureml", "Standard_DS3_v2", "cpu"),)},
}


class CatalogError(ValueError):
    """An instance type the catalog refuses; the caller adds the config key."""


def gpu_instance(cloud: str, name: str) -> GpuInstance:
    """The GPU instance ``name`` on ``cloud``, or a :class:`CatalogError` saying why not."""
    table = GPU[cloud]
    if name in table:
        return table[name]
    allowed = ", ".join(table)
    other = NON_GPU.get(cloud, {}).get(name)
    if other is not None:
        raise CatalogError(f"{name!r} is a {other.kind} instance with no GPU; allowed: {allowed}")
    raise CatalogError(f"{name!r} is not a known {cloud} GPU instance type; allowed: {allowed}")


def check_fits(instance: GpuInstance, model_bytes: int) -> None:
    """One GPU of ``instance`` holds the model with headroom, or a :class:`CatalogError`."""
    need = GPU_MEMORY_HEADROOM * model_bytes / 2**30
    if instance.gpu_memory_gib < need:
        fitting = [i.name for i in GPU[instance.cloud].values() if i.gpu_memory_gib >= need]
        raise CatalogError(
            f"{instance.name!r} has {instance.gpu_memory_gib:g} GiB per GPU "
            f"({instance.gpu}); the model ({model_bytes / 2**30:.1f} GiB) needs "
            f"≥ {need:.1f} GiB ({GPU_MEMORY_HEADROOM}× its size) on one GPU; "
            f"allowed: {', '.join(fitting) or 'none in the catalog'}"
        )


def hourly_cost(instance: GpuInstance, count: int) -> float:
    """Estimated on-demand $/hour for ``count`` instances (list price, see ``price_date``)."""
    return round(instance.usd_per_hour * count, 4)


# ------------------------------------------------------------------------- throughput

BENCHMARKS_FILE = Path(__file__).with_name("benchmarks.json")
ESTIMATE_MODEL = "sdxl-1024"  # the workload step estimates describe: SDXL-class, 1 MP
# Seconds per denoising step for one ~1-megapixel image of an SDXL-class model in fp16, per
# GPU. Rough public figures, used where infra/benchmarks.json has no measured one.
PUBLISHED_STEP_SECONDS: dict[str, float] = {
    "NVIDIA T4": 1.5,
    "NVIDIA A10": 0.6,
    "NVIDIA A100 40GB": 0.3,
    "NVIDIA A100 80GB": 0.25,
    "NVIDIA H100 NVL": 0.15,
}
DEFAULT_STEP_SECONDS = 1.5  # a GPU in neither table is assumed slow
# the GPU classes the benchmark reports, matched in the catalog's and CUDA's GPU names
# (longest first: "L40S" before "L4", "A100" before "A10")
GPU_CLASSES = ("L40S", "A100", "H100", "A10G", "A10", "L4", "T4")


def gpu_class(gpu: str) -> str | None:
    """``NVIDIA A100 80GB``, ``NVIDIA A100-SXM4-80GB`` → ``A100``; A10 and A10G are one class."""
    name = gpu.upper()
    for cls in GPU_CLASSES:
        if re.search(rf"(?<![A-Z0-9]){cls}(?![0-9])", name):
            return "A10G" if cls == "A10" else cls
    return None


@dataclass(frozen=True)
class Measured:
    """One ``benchmarks/gpu.py`` figure: a model size and engine setting on a GPU class."""

    gpu_class: str
    device: str
    model: str  # sd15-512, sdxl-1024
    variant: str  # engine, engine+compile, ...
    steps: int
    s_per_image: float
    s_per_step: float
    images_per_hour: float
    peak_gib: float
    date: str


@cache
def measured(path: Path | None = None) -> tuple[Measured, ...]:
    """The figures in ``benchmarks.json`` (none until someone runs the benchmark on a GPU)."""
    path = path or BENCHMARKS_FILE
    if not path.is_file():
        return ()
    data = json.loads(path.read_text())
    fields = Measured.__dataclass_fields__
    return tuple(
        Measured(**{k: v for k, v in e.items() if k in fields}) for e in data.get("entries", [])
    )


def find_measured(
    gpu: str, *, model: str = ESTIMATE_MODEL, compiled: bool = False, batched: bool = False
) -> Measured | None:
    """The figure for this GPU's class, model and the engine as a deployment runs it."""
    cls = gpu_class(gpu)
    variant = "engine" + ("+compile" if compiled else "") + ("+batch" if batched else "")
    hits = [m for m in measured() if m.gpu_class == cls and m.model == model]
    exact = [m for m in hits if m.variant == variant]
    return (exact or [m for m in hits if m.variant.startswith(variant)] or [None])[0]


def step_seconds(gpu: str, *, compiled: bool = False) -> tuple[float, str]:
    """Seconds per denoising step (1 MP, SDXL-class) on ``gpu`` and where the figure is from."""
    hit = find_measured(gpu, compiled=compiled)
    if hit is not None:
        return hit.s_per_step, f"measured on {hit.device} ({hit.variant}, {hit.date})"
    if gpu in PUBLISHED_STEP_SECONDS:
        return PUBLISHED_STEP_SECONDS[gpu], "rough public figure"
    return DEFAULT_STEP_SECONDS, "no figure for this GPU: assumed slow"


def images_per_hour(
    instance: GpuInstance, *, model: str = ESTIMATE_MODEL, compiled: bool = False
) -> float | None:
    """Measured images/hour of one replica (one GPU) on ``instance``, or None."""
    hit = find_measured(instance.gpu, model=model, compiled=compiled)
    return hit.images_per_hour if hit is not None else None


def usd_per_1000_images(
    instance: GpuInstance, *, model: str = ESTIMATE_MODEL, compiled: bool = False
) -> float | None:
    """List price of 1000 images on ``instance`` at the measured rate, or None."""
    rate = images_per_hour(instance, model=model, compiled=compiled)
    return round(instance.usd_per_hour / rate * 1000, 4) if rate else None
