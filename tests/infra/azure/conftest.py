"""Fixtures for the Azure ML component's tests (helpers: ``tests.infra.azure.helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.azure.helpers import azure_package


@pytest.fixture
def video_package(tmp_path: Path) -> Path:
    return azure_package(
        tmp_path, id="tiny/text-to-video", tasks=["text-to-video"], size_bytes=3 * 2**30
    )
