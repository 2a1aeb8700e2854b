"""The driver table answers the questions the server, the plan and the image test ask."""

from __future__ import annotations

import pytest

from scoring.cuda_drivers import driver_runs, highest_cuda_major, min_driver_branch


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
