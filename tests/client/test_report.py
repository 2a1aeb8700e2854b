"""compare's report: the HTML is checked by its structure (no browser needed), the JSON
by its fields; images are relative files and nothing is fetched from the network."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from genai_endpoints.client.compare import run_compare
from genai_endpoints.client.report import write_report
from tests.client.helpers import Reply, contract_answer, make_client, png_bytes

PNG = png_bytes()


class Page(HTMLParser):
    """Collects tags, attributes and the text of table cells by class."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.rows: dict[str, dict[str, str]] = {}
        self._row: str | None = None
        self._cell: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr" and a.get("data-target"):
            self._row = a["data-target"]
            self.rows[self._row] = {}
        if tag == "td" and self._row:
            classes = (a.get("class") or "").split()
            self._cell = next((c for c in classes if c in ("p50", "p95", "usd")), None)

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._row and self._cell:
            self.rows[self._row][self._cell] = self.rows[self._row].get(self._cell, "") + data


@pytest.fixture
def report(tmp_path, fake, fake2):
    third = type(fake)()  # a third fake server
    try:
        fake.reply(Reply(body=contract_answer(PNG)))
        fake2.reply(Reply(body=contract_answer(PNG, vertex=True)))
        third.reply(Reply(500, {"error": {"message": "GPU fell off the bus"}}))
        yaml_text = f"""
targets:
  - {{name: sm, kind: sagemaker, url: '{fake.url}', model_revision: r1, price_per_hour: 1.2}}
  - {{name: vx, kind: vertex, url: '{fake2.url}', model_revision: r1, price_per_hour: 3.6}}
  - {{name: az, kind: azureml, url: '{third.url}', model_revision: r1, retry_budget_s: 0}}
"""
        client = make_client(tmp_path, yaml_text)
        out = tmp_path / "report"
        comparison = run_compare(
            client, ["sm", "vx", "az"], ["a lighthouse", "a <b>fox</b>"],
            {"seed": 7, "num_inference_steps": 4}, out, repeat=2,
        )  # fmt: skip
        html_path, json_path = write_report(comparison, out)
        yield out, html_path.read_text(), json.loads(json_path.read_text())
    finally:
        third.close()


def test_html_shows_every_image_side_by_side_as_relative_files(report):
    out, html, _ = report
    page = Page()
    page.feed(html)
    imgs = [a["src"] for tag, a in page.tags if tag == "img"]
    assert len(imgs) == 4  # 2 prompts × 2 working targets
    for src in imgs:
        assert not src.startswith(("http:", "https:", "/", "file:"))
        assert (out / src).read_bytes() == PNG
    rows = [a for tag, a in page.tags if tag == "div" and a.get("class") == "row"]
    assert len(rows) == 2
    figures = [a["data-target"] for tag, a in page.tags if tag == "figure"]
    assert figures == ["sm", "vx", "sm", "vx"]


def test_html_works_offline(report):
    _, html, _ = report
    page = Page()
    page.feed(html)
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe", "object")]
    for _, attrs in page.tags:
        for value in attrs.values():
            assert not (value or "").startswith(("http://", "https://", "//"))
    assert "<style>" in html and "@import" not in html and "url(" not in html


def test_html_table_has_latency_and_price_per_target(report):
    _, html, _ = report
    page = Page()
    page.feed(html)
    assert set(page.rows) == {"sm", "vx", "az"}
    for name in ("sm", "vx"):
        assert page.rows[name]["p50"].endswith(" s") and page.rows[name]["p95"].endswith(" s")
        assert page.rows[name]["usd"].startswith("$")
    # $1.2/h × 0.05 s of GPU time per image = $0.0000167
    assert page.rows["sm"]["usd"].startswith("$0.000017")
    assert page.rows["az"]["p50"] == "–"
    assert "GPU fell off the bus" in html
    assert "all outputs byte-identical" in html
    assert "a &lt;b&gt;fox&lt;/b&gt;" in html and "<b>fox</b>" not in html


def test_json_report_fields(report):
    _, _, doc = report
    assert doc["prompts"] == ["a lighthouse", "a <b>fox</b>"]
    assert doc["request"] == {"seed": 7, "num_inference_steps": 4}
    targets = {t["name"]: t for t in doc["targets"]}
    assert targets["sm"]["calls"] == 4 and targets["sm"]["errors"] == 0
    assert targets["az"]["errors"] == 2 and targets["az"]["calls"] == 0
    assert targets["vx"]["usd_per_image"] == pytest.approx(3.6 * 0.05 / 3600)
    assert doc["identical"] == [True, True]
    failed = [r for r in doc["results"] if not r["ok"]]
    assert {r["target"] for r in failed} == {"az"} and "GPU fell off" in failed[0]["error"]
    ok = [r for r in doc["results"] if r["ok"]]
    assert all(len(r["latencies_s"]) == 2 and r["outputs"][0]["sha256"] for r in ok)


def test_second_compare_is_served_from_the_cache(tmp_path, fake):
    fake.reply(Reply(body=contract_answer(PNG)))
    client = make_client(
        tmp_path,
        f"targets:\n  - {{name: sm, kind: sagemaker, url: '{fake.url}', model_revision: r}}\n",
    )
    run_compare(client, ["sm"], ["x"], {"seed": 1}, tmp_path / "r1")
    again = run_compare(client, ["sm"], ["x"], {"seed": 1}, tmp_path / "r2")
    assert len(fake.seen) == 1
    assert again.targets[0].cached == 1 and again.targets[0].calls == 0
    assert again.targets[0].p50_s is None  # a cached answer is not a measurement
