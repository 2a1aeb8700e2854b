"""Which NVIDIA driver a CUDA build needs: the one table the server, the plan and the image
test all read, so the lock's CUDA build, the hosts each cloud is told to run and the message
a server gives on a host that is too old cannot disagree.

Under CUDA's minor-version compatibility a build of CUDA X.y runs on any driver of X's
branch or newer (NVIDIA, "CUDA Minor Version Compatibility",
https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html:
CUDA 13.x needs >= 580, CUDA 12.x >= 525, CUDA 11.x >= 450). The data-center driver matrix
says the same per branch ("R535 ... CUDA 12", "R580 ... CUDA 13":
https://docs.nvidia.com/datacenter/tesla/drivers/ "Supported Drivers and CUDA Toolkit
Versions"). Forward compatibility (the cuda-compat package) is not used: it is not on PyPI,
and SageMaker's newer AMIs turn its mounting off.

Nothing here imports torch: ``infra`` reads it at plan time. The CUDA build a serving
lock installs is read here too (:func:`lock_cuda_version`), from the pins of the CUDA
runtime torch depends on, so the plan and the image test ask the lock the same question.
"""

from __future__ import annotations

import re

# CUDA major version → the oldest driver branch that runs every minor release of it
MIN_DRIVER_BRANCH: dict[int, int] = {11: 450, 12: 525, 13: 580}

# the pins that name a lock's CUDA build: the CUDA runtime (CUDA 13's wheels carry no major
# suffix, CUDA 12's do: nvidia-cuda-runtime-cu12) and torch's cuda-toolkit metapackage
_CUDA_PINS = re.compile(
    r"^(nvidia-cuda-runtime(?:-cu\d+)?|cuda-toolkit)==(\d+)\.(\d+)\b", re.MULTILINE | re.IGNORECASE
)


def cuda_major(cuda_version: str) -> int:
    """``"13.0"`` → 13; the major version a torch build reports (``torch.version.cuda``)."""
    head = cuda_version.strip().split(".", 1)[0]
    if not head.isdigit():
        raise ValueError(f"not a CUDA version: {cuda_version!r}")
    return int(head)


def min_driver_branch(cuda_version: str) -> int:
    """The oldest driver branch (e.g. 580) a build of ``cuda_version`` runs on."""
    major = cuda_major(cuda_version)
    if major not in MIN_DRIVER_BRANCH:
        known = ", ".join(str(m) for m in sorted(MIN_DRIVER_BRANCH))
        raise ValueError(f"CUDA {cuda_version}: no driver table entry; known majors: {known}")
    return MIN_DRIVER_BRANCH[major]


def highest_cuda_major(driver_branch: int) -> int | None:
    """The newest CUDA major a driver branch runs without forward compatibility (None if
    the branch is older than every entry)."""
    fits = [major for major, branch in MIN_DRIVER_BRANCH.items() if branch <= driver_branch]
    return max(fits) if fits else None


def driver_runs(driver_branch: int, cuda_version: str) -> bool:
    return driver_branch >= min_driver_branch(cuda_version)


def lock_cuda_version(lock_text: str) -> str | None:
    """The CUDA ``major.minor`` a lock's torch is built for (``"13.0"``), from its CUDA
    runtime pins; None for a lock without them (a CPU build). Pins that disagree raise."""
    found = {f"{m[2]}.{m[3]}": m[1] for m in _CUDA_PINS.finditer(lock_text)}
    if len(found) > 1:
        pins = ", ".join(f"{name} {version}" for version, name in sorted(found.items()))
        raise ValueError(f"the lock's CUDA pins disagree: {pins}")
    return next(iter(found), None)
