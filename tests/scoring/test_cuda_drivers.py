"""The driver table answers the questions the server, the plan and the image test ask."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.cuda_drivers import (
    driver_runs,
    highest_cuda_major,
    lock_cuda_version,
    min_driver_branch,
)


def test_each_cuda_major_needs_its_branch_and_newer_branches_run_older_builds():
    assert min_driver_branch("13.0") == 580 and min_driver_branch("12.8") == 525
    assert highest_cuda_major(470) == 11 and highest_cuda_major(535) == 12
    assert highest_cuda_major(550) == 12 and highest_cuda_major(580) == 13
    assert highest_cuda_major(400) is None
    assert driver_runs(580, "12.4") and not driver_runs(550, "13.0")


@pytest.mark.parametrize("bad", ["", "cuda", "x.1", "99.0"])
def test_an_unknown_version_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=r"CUDA"):
        min_driver_branch(bad)


ROOT = Path(__file__).resolve().parents[2]


def test_the_serving_lock_names_its_cuda_build_by_its_runtime_pins():
    assert lock_cuda_version((ROOT / "runtime" / "serve.lock").read_text()) == "13.0"
    cu12 = "nvidia-cuda-runtime-cu12==12.8.90 \\\n    --hash=sha256:ab\ntorch==2.10.0\n"
    assert lock_cuda_version(cu12) == "12.8"
    assert lock_cuda_version("torch==2.13.0\ndiffusers==0.42.0\n") is None  # a CPU lock


def test_pins_that_disagree_on_the_cuda_build_are_refused():
    with pytest.raises(ValueError, match=r"12\.8.*13\.0|13\.0.*12\.8"):
        lock_cuda_version("cuda-toolkit==13.0.3.0\nnvidia-cuda-runtime-cu12==12.8.90\n")
