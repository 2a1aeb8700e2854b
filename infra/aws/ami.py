"""SageMaker inference AMIs: which NVIDIA driver each runs, and the one a production variant
asks for so that the host's driver runs the CUDA build of the serving lock.

Without ``InferenceAmiVersion`` SageMaker picks a driver per instance family: 470 (CUDA
11.4) on ml.g4dn, ml.g5 and ml.p4d, 535 (CUDA 12.2) on ml.g6 and ml.p5, 550 on ml.p5e (AWS,
"Best practices to minimize interruptions during GPU driver upgrades",
https://docs.aws.amazon.com/sagemaker/latest/dg/inference-gpu-drivers.html). None of those
runs the lock's torch, PyPI's CUDA 13.0 build (driver ≥ 580, :mod:`scoring.cuda_drivers`),
and a container whose CUDA the driver cannot run fails to start
(``CannotStartContainerError``). So every variant names its AMI, chosen here from the lock.

``INFERENCE_AMIS`` is transcribed from botocore's service model (botocore 1.44.8,
``sagemaker/2017-07-24/service-2.json``: the ``ProductionVariantInferenceAmiVersion`` enum
and the documentation of ``ProductionVariant.InferenceAmiVersion``); a test reads that model
and fails when the two disagree. The "-1" AMIs ship an NVIDIA Container Toolkit that no
longer mounts the CUDA forward-compatibility libraries
(https://docs.aws.amazon.com/sagemaker/latest/dg/container-nvidia-compliance.html): the
image does not use them, so those are preferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scoring.cuda_drivers import highest_cuda_major, lock_cuda_version, min_driver_branch

SERVE_LOCK = Path(__file__).resolve().parents[2] / "runtime" / "serve.lock"


@dataclass(frozen=True)
class InferenceAmi:
    version: str  # the InferenceAmiVersion value
    driver_branch: int | None  # NVIDIA driver branch; None: not an NVIDIA GPU AMI
    cuda: str | None  # the CUDA version AWS lists with it
    compat_mounting: bool = True  # the toolkit mounts CUDA-compat libraries (not on "-1")


INFERENCE_AMIS: dict[str, InferenceAmi] = {
    a.version: a
    for a in (
        InferenceAmi("al2-ami-sagemaker-inference-gpu-2", 535, "12.2"),
        InferenceAmi("al2-ami-sagemaker-inference-gpu-2-1", 535, "12.2", compat_mounting=False),
        InferenceAmi("al2-ami-sagemaker-inference-gpu-3-1", 550, "12.4", compat_mounting=False),
        InferenceAmi("al2023-ami-sagemaker-inference-gpu-4-1", 580, "13.0", compat_mounting=False),
        InferenceAmi("al2-ami-sagemaker-inference-neuron-2", None, None),  # Inferentia, Trainium
    )
}


class AmiError(ValueError):
    """An AMI (or a lock) the plan refuses; the caller adds the config key."""


@cache
def serving_cuda(lock: Path = SERVE_LOCK) -> str:
    """The CUDA build (``"13.0"``) of the lock the runtime image installs: this checkout's
    ``runtime/serve.lock``, which ``infra.runtime`` makes sure the package was built with."""
    cuda = lock_cuda_version(lock.read_text()) if lock.is_file() else None
    if cuda is None:
        raise AmiError(
            f"{lock} pins no CUDA build, so no GPU host can be matched to it; allowed: the "
            "lock scripts/lock.py writes (torch's CUDA libraries included)"
        )
    return cuda


def fitting(cuda: str) -> list[InferenceAmi]:
    """The AMIs whose driver runs ``cuda``, oldest driver first, "-1" AMIs before others."""
    need = min_driver_branch(cuda)
    fits = [a for a in INFERENCE_AMIS.values() if (a.driver_branch or 0) >= need]
    return sorted(fits, key=lambda a: (a.driver_branch, a.compat_mounting, a.version))


def inference_ami(requested: str | None, cuda: str) -> InferenceAmi:
    """The AMI a variant asks for: ``requested`` if its driver runs ``cuda``, else the first
    of :func:`fitting`; an :class:`AmiError` (one line, what is allowed) otherwise."""
    try:
        need, fits = min_driver_branch(cuda), fitting(cuda)
    except ValueError as exc:
        raise AmiError(str(exc)) from None
    allowed = ", ".join(a.version for a in fits) or "none"
    if requested is None:
        if not fits:
            raise AmiError(
                f"no SageMaker inference AMI runs CUDA {cuda} (driver ≥ {need}), the runtime "
                f"lock's build; allowed: {allowed} (lock a torch built for an older CUDA)"
            )
        return fits[0]
    ami = INFERENCE_AMIS.get(requested)
    if ami is None:
        known = ", ".join(INFERENCE_AMIS)
        raise AmiError(
            f"not a SageMaker inference AMI version (known: {known}); allowed: {allowed}"
        )
    if ami.driver_branch is None:
        raise AmiError(f"not an NVIDIA GPU AMI; allowed: {allowed} (or leave it unset)")
    if ami.driver_branch < need:
        top = highest_cuda_major(ami.driver_branch)
        raise AmiError(
            f"its NVIDIA driver {ami.driver_branch} runs CUDA {top} at most, and the runtime "
            f"lock's torch is the CUDA {cuda} build (driver ≥ {need}); allowed: {allowed} "
            "(or leave it unset)"
        )
    return ami
