"""The done-when check: three local servers (one package build, each cloud's contract),
compare → byte-identical images and a table with latency and $/image per target; invoke
and select against the same targets file."""

from __future__ import annotations

import contextlib
import json
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from genai_endpoints.cli import app
from genai_endpoints.commands.rehearsal import package_server
from model_packages.build import build_packages
from model_packages.staging import stage_local

pytestmark = pytest.mark.slow
CLOUDS = ("sagemaker", "vertex", "azureml")
runner = CliRunner()


@pytest.fixture(scope="module")
def targets_file(tiny_image_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("client-e2e")
    build_packages(stage_local(tiny_image_model), list(CLOUDS), root / "packages")
    with contextlib.ExitStack() as stack:
        servers = {
            c: stack.enter_context(package_server(c, root / "packages" / c, root / "logs"))
            for c in CLOUDS
        }
        lines = ["targets:"]
        for i, (cloud, server) in enumerate(servers.items()):
            lines += [
                f"  - name: {cloud}-local",
                f"    kind: {cloud}",
                f"    url: {server.base}",
                f"    package: packages/{cloud}",
                f"    price_per_hour: {1.0 + i}",
                f"    quality_score: {60 + 10 * i}",
            ]
        lines += ["cache: cache", "history: history.sqlite3"]
        (root / "targets.yaml").write_text("\n".join(lines) + "\n")
        yield root, root / "targets.yaml"


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_compare_three_contracts_gives_identical_images_and_figures(targets_file):
    root, targets = targets_file
    out = root / "report"
    result = run("compare", "--targets", targets, "--prompt", "a lighthouse", "--seed", 7,
                 "--steps", 3, "--width", 64, "--height", 64, "--out", out,
                 "--repeat", 2)  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "report.json").read_text())
    assert doc["identical"] == [True]
    images = [(out / r["outputs"][0]["path"]).read_bytes() for r in doc["results"]]
    assert len(images) == 3 and len(set(images)) == 1 and images[0][:8] == b"\x89PNG\r\n\x1a\n"
    for t in doc["targets"]:
        assert t["errors"] == 0 and t["calls"] == 2, t
        assert t["p50_s"] > 0 and t["p95_s"] >= t["p50_s"]
        assert 0 < t["usd_per_image"] < 0.01 and "/h ×" in t["price_basis"]
        assert t["model_revision"].startswith("local-")

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells: list[str] = []

        def handle_starttag(self, tag, attrs):
            cls = dict(attrs).get("class") or ""
            if tag == "td" and any(k in cls.split() for k in ("p50", "p95", "usd")):
                self.cells.append(cls)

    page = Cells()
    page.feed((out / "report.html").read_text())
    assert len(page.cells) == 9  # p50, p95, $/image for each of the three targets


def test_invoke_and_select_against_the_same_targets(targets_file):
    root, targets = targets_file
    args = ["invoke", "--targets", targets, "--target", "vertex-local", "--prompt", "a fox",
            "--seed", 11, "--steps", 2, "--width", 64, "--height", 64,
            "--out", root / "fox.png", "--json"]  # fmt: skip
    first = json.loads(run(*args).stdout)
    second = json.loads(run(*args).stdout)
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert first["seed"] == 11 and (root / "fox.png").read_bytes()[:4] == b"\x89PNG"
    chosen = json.loads(
        run("select", "--targets", targets, "--priority", "quality", "--json").stdout
    )
    assert chosen["chosen"] == "azureml-local"  # highest declared quality_score
    speed = json.loads(run("select", "--targets", targets, "--priority", "speed", "--json").stdout)
    assert all(r["p50_s"] is not None for r in speed["ranking"])
    fallback = run("invoke", "--targets", targets, "--priority", "cost", "--prompt", "x",
                   "--steps", 1, "--width", 64, "--height", 64,
                   "--out", root / "x.png")  # fmt: skip
    assert fallback.exit_code == 0 and "wrote" in fallback.stdout
