"""Why CUDA cannot start on this host, in one line: the NVIDIA driver found (if any) and
the driver branch this torch build needs (``scoring.cuda_drivers``).

A deployment on a GPU sets ``GENAI_DEVICE=cuda`` (infra): such a server never falls back
to the CPU, where every request would run past the cloud's timeout while the endpoint
reports ready. It stays unready with this line instead.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scoring.cuda_drivers import min_driver_branch

DRIVER_FILE = Path("/proc/driver/nvidia/version")


def driver_found(version_file: Path = DRIVER_FILE) -> str:
    """The kernel driver's version (``/proc/driver/nvidia/version``: "NVRM version: NVIDIA
    UNIX x86_64 Kernel Module  470.256.02 ..."), or what shows there is none."""
    try:
        text = version_file.read_text(errors="replace")
    except OSError:
        smi = "nvidia-smi present" if shutil.which("nvidia-smi") else "nvidia-smi absent"
        return f"none (no {version_file}, {smi})"
    match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", text)
    return match[1] if match else f"unreadable ({text.strip()[:80]!r})"


def driver_required(cuda_version: str | None) -> str:
    """What this torch build needs: "branch >= 580 (torch CUDA 13.0)"."""
    if not cuda_version:
        return "a CUDA build of torch (this one is CPU-only)"
    try:
        return f"branch >= {min_driver_branch(cuda_version)} (torch CUDA {cuda_version})"
    except ValueError as exc:
        return str(exc)


def cuda_unavailable(cuda_version: str | None, reason: str = "") -> str:
    """The one line a server that asked for CUDA and cannot start it logs and reports."""
    why = f" ({reason.strip().splitlines()[0][:160]})" if reason.strip() else ""
    return (
        f"GENAI_DEVICE=cuda but CUDA cannot start{why}: NVIDIA driver found: {driver_found()}; "
        f"required: {driver_required(cuda_version)}; the server stays unready rather than "
        "serve on the CPU"
    )
