"""The comparison report: ``report.json`` for scripts and ``report.html`` for people.

The page is one self-contained file: inline CSS, no scripts, no fonts or anything else from
the network; images are the relative files written next to it (``images/…``), so the folder
can be zipped, mailed or opened offline.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict
from html import escape
from pathlib import Path

from genai_endpoints.client.compare import Comparison

CSS = """
:root { color-scheme: light; --line: #d0d5dd; --muted: #667085; --ok: #067647; --bad: #b42318; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px;
       color: #101828; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: var(--muted); margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 10px; text-align: left; }
th { background: #f9fafb; font-weight: 600; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.basis { color: var(--muted); font-size: 12px; }
.row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
         background: #fcfcfd; width: 280px; }
figure img, figure video { width: 100%; height: auto; image-rendering: pixelated;
                           background: #eee; display: block; }
figcaption { margin-top: 6px; font-size: 12px; }
figcaption b { font-size: 13px; }
.err { color: var(--bad); } .ok { color: var(--ok); }
.error-box { width: 280px; min-height: 120px; border: 1px dashed var(--bad); border-radius: 6px;
             padding: 10px; color: var(--bad); font-size: 12px; overflow-wrap: anywhere; }
.prompt { font-style: italic; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px;
       background: #eef4ff; color: #3538cd; margin-left: 4px; }
"""


def _fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f} s"


def _fmt_usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:.6f}" if value < 0.01 else f"${value:.4f}"


def as_json(c: Comparison) -> dict:
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.started)),
        "seconds": round(c.seconds, 3),
        "request": c.request,
        "prompts": c.prompts,
        "targets": [asdict(t) for t in c.targets],
        "results": [
            {
                "prompt_index": cell.prompt_index,
                "prompt": c.prompts[cell.prompt_index],
                "target": cell.target,
                "ok": cell.ok,
                "error": cell.error,
                "cache": cell.cache,
                "latencies_s": [round(x, 4) for x in cell.latencies_s],
                "outputs": cell.outputs,
            }
            for cell in c.cells
        ],
        "identical": c.identical,
    }


def write_report(c: Comparison, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(as_json(c), indent=2) + "\n")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(c))
    return html_path, json_path


def render_html(c: Comparison) -> str:
    request = {k: v for k, v in c.request.items() if k not in ("image", "mask")}
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(c.started))
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>genai-endpoints comparison</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Endpoint comparison</h1>",
        f'<div class="meta">{len(c.prompts)} prompt(s) × {len(c.targets)} target(s), '
        f"{escape(when)}, {c.seconds:.1f} s. Request: "
        f"<code>{escape(json.dumps(request, sort_keys=True))}</code></div>",
        "<h2>Per target</h2>",
        '<table id="targets"><thead><tr><th>target</th><th>kind</th><th>model</th>'
        '<th class="num">live calls</th><th class="num">cached</th><th class="num">errors</th>'
        '<th class="num">latency p50</th><th class="num">latency p95</th>'
        '<th class="num">$/image</th></tr></thead><tbody>',
    ]
    for t in c.targets:
        model = " @ ".join(x for x in (t.model_id, (t.model_revision or "")[:12]) if x) or "–"
        err_cls = ' class="num err"' if t.errors else ' class="num"'
        parts.append(
            f'<tr data-target="{escape(t.name)}"><td><b>{escape(t.name)}</b></td>'
            f"<td>{escape(t.kind)}</td><td>{escape(model)}</td>"
            f'<td class="num">{t.calls}</td><td class="num">{t.cached}</td>'
            f"<td{err_cls}>{t.errors}</td>"
            f'<td class="num p50">{_fmt_s(t.p50_s)}</td><td class="num p95">{_fmt_s(t.p95_s)}</td>'
            f'<td class="num usd">{_fmt_usd(t.usd_per_image)}'
            f'<div class="basis">{escape(t.price_basis)}</div></td></tr>'
        )
    parts.append("</tbody></table>")
    parts.append(
        '<div class="basis">Latency: wall time of live calls seen by the client (cached answers '
        "excluded). $/image: a managed API's list price, or our endpoint's $/instance-hour × "
        "the GPU-busy seconds per image its server reports.</div>"
    )
    for i, prompt in enumerate(c.prompts):
        same = c.identical[i]
        verdict = (
            '<span class="ok">all outputs byte-identical</span>'
            if same
            else '<span class="err">outputs differ</span>'
            if same is False
            else ""
        )
        parts.append(
            f'<h2>Prompt {i + 1}: <span class="prompt">{escape(prompt)}</span> {verdict}</h2>'
        )
        parts.append(f'<div class="row" data-prompt="{i}">')
        for cell in (x for x in c.cells if x.prompt_index == i):
            if not cell.ok:
                parts.append(
                    f'<div class="error-box" data-target="{escape(cell.target)}">'
                    f"<b>{escape(cell.target)}</b><br>{escape(cell.error or 'failed')}</div>"
                )
                continue
            for out in cell.outputs:
                src = escape(out["path"])
                media = (
                    f'<video src="{src}" controls muted loop></video>'
                    if out["content_type"].startswith("video/")
                    else f'<img src="{src}" alt="{escape(cell.target)}: {escape(prompt)}">'
                )
                lat = statistics.median(cell.latencies_s) if cell.latencies_s else None
                runs = len(cell.latencies_s)
                lat_text = f"latency {_fmt_s(lat)}" + (f" (median of {runs})" if runs > 1 else "")
                cache_tag = '<span class="tag">cached</span>' if cell.cache == "hit" else ""
                parts.append(
                    f'<figure data-target="{escape(cell.target)}">{media}<figcaption>'
                    f"<b>{escape(cell.target)}</b>{cache_tag}<br>"
                    f"{lat_text} · seed {out.get('seed', '–')}<br>"
                    f'<span class="basis">sha256 {escape(out["sha256"][:16])}… · '
                    f"{out['bytes']} bytes</span></figcaption></figure>"
                )
        parts.append("</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
