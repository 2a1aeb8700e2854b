"""The README and docs stand alone: every link they make resolves inside the repository,
nothing points outside it, and they describe the one deployment flow the program has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_inside_the_repository(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+://", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.exists(), f"{page.name}: link to {target} does not exist"
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_nothing_points_at_material_outside_the_product(page):
    text = page.read_text()
    for outside in ("../shared", "ARCHITECTURE.md", "CONTRACTS"):
        assert outside not in text, f"{page.name} mentions {outside}"


def test_the_deployment_is_one_pulumi_up_everywhere():
    """No page describes the retired multi-step dance or the vendor serving stacks."""
    for page in PAGES:
        text = page.read_text()
        for retired in ("deployEndpoint", "azmlinfsrv", ".venv-smtk", "inference.py"):
            assert retired not in text, f"{page.name} still describes {retired}"
    assert "one `pulumi up`" in (ROOT / "README.md").read_text()
    assert "one `pulumi up`" in (ROOT / "docs" / "pulumi.md").read_text()
