"""Fixtures of the infra tests; the helpers they use live in :mod:`tests.infra.helpers`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.helpers import make_package, stack_config


@pytest.fixture
def dev_config() -> dict[str, Any]:
    return stack_config("dev")


@pytest.fixture
def video_package(tmp_path: Path) -> Path:
    return make_package(tmp_path, id="tiny/text-to-video", tasks=["text-to-video"])
