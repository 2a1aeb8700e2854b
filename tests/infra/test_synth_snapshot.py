"""Every resource of every example stack, as ``synth --json`` plans it, equals the committed
snapshot: a refactor of the Pulumi program may move code, never a URN or an input.

The snapshot is the plan of each ``Pulumi.<stack>.yaml`` over the fixture packages. When a
change to a stack is intended, regenerate it and review the diff like code:
``python -m tests.infra.test_synth_snapshot``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from genai_endpoints.commands.synth import synth
from tests.infra.helpers import FIXTURE_PACKAGES, FIXTURE_PROJECT, ROOT

SNAPSHOTS = Path(__file__).resolve().parent / "fixtures" / "synth"
STACKS = ("dev", "staging", "prod")

app = typer.Typer(pretty_exceptions_enable=False)
app.command("synth")(synth)
app.command("noop")(lambda: None)


def plan(stack: str) -> dict[str, Any]:
    """The stack's plan with this checkout's absolute paths replaced by ``<ROOT>``."""
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--stack",
            stack,
            "--config-file",
            str(ROOT / f"Pulumi.{stack}.yaml"),
            "--package",
            str(FIXTURE_PACKAGES),
            "--project-dir",
            str(FIXTURE_PROJECT),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.replace(str(ROOT), "<ROOT>"))
    return {"resources": data["resources"], "outputs": data["outputs"]}


def _by_urn(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{r['type']}::{r['parent']}::{r['name']}": r for r in resources}


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_and_output_matches_the_snapshot(stack: str) -> None:
    want = json.loads((SNAPSHOTS / f"{stack}.json").read_text())
    got = plan(stack)
    want_urns, got_urns = _by_urn(want["resources"]), _by_urn(got["resources"])
    assert sorted(got_urns) == sorted(want_urns), "resources added or removed (URN changed)"
    for urn, resource in want_urns.items():
        assert got_urns[urn]["inputs"] == resource["inputs"], f"inputs of {urn} changed"
        assert sorted(got_urns[urn]["depends_on"]) == sorted(resource["depends_on"]), urn
    assert got["outputs"] == want["outputs"]


if __name__ == "__main__":
    for name in sys.argv[1:] or STACKS:
        text = json.dumps(plan(name), indent=1, sort_keys=True) + "\n"
        (SNAPSHOTS / f"{name}.json").write_text(text)
        print(f"wrote {SNAPSHOTS / name}.json")
