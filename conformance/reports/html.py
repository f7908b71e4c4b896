"""A self-contained HTML report (inline CSS, no scripts from anywhere)."""

from __future__ import annotations

from collections import defaultdict
from html import escape

from conformance.model import Outcome, Result
from conformance.runner import Report

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2430}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #d6dbe3;padding:.25rem .5rem;text-align:left}
th{background:#f2f4f8}.PASS{background:#dff5e3}.FAIL{background:#fbdada}.WARN{background:#fff1c7}
.SKIP{background:#eceff3;color:#555}.INCONCLUSIVE{background:#efe3fb}td.cell{text-align:center;font-weight:600;font-size:12px}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;white-space:pre-wrap;word-break:break-all;max-height:24rem}
details{margin:.4rem 0 1rem}summary{cursor:pointer}.muted{color:#666}
"""


def _cell(result: Result | None) -> str:
    if result is None:
        return "<td></td>"
    o = result.outcome.value
    return f'<td class="cell {o}" title="{escape(result.summary())}">{o}</td>'


def write(report: Report) -> str:
    cfg = report.config
    totals = report.totals
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>dify-conformance report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>dify-conformance report</h1>",
        f"<p>{escape(cfg.base_url)} · modes {escape(', '.join(sorted(cfg.keys)))} · profile "
        f"{escape(cfg.profile)} · seed {cfg.seed} · {report.duration:.1f}s · {report.requests} requests</p>",
        "<table><tr>"
        + "".join(f"<th class='{o.value}'>{o.value}</th>" for o in Outcome)
        + "</tr><tr>"
        + "".join(f"<td>{totals[o]}</td>" for o in Outcome)
        + "</tr></table>",
    ]
    by_mode: dict[str, list[Result]] = defaultdict(list)
    for r in report.results:
        by_mode[r.mode].append(r)
    for mode, results in sorted(by_mode.items()):
        checks = sorted({r.check_id for r in results})
        ops = sorted({r.operation for r in results})
        index = {(r.operation, r.check_id): r for r in results}
        out.append(f"<h2>{escape(mode)}: operation × check</h2><table><tr><th>operation</th>")
        out += [f"<th title='{escape(c)}'>{escape(c)}</th>" for c in checks]
        out.append("</tr>")
        for op in ops:
            out.append(
                f"<tr><th>{escape(op)}</th>" + "".join(_cell(index.get((op, c))) for c in checks) + "</tr>"
            )
        out.append("</table>")
    shown = (Outcome.FAIL, Outcome.WARN, Outcome.INCONCLUSIVE)
    problems = [r for r in report.results if r.outcome in shown]
    out.append(f"<h2>Failures, warnings and inconclusive checks ({len(problems)})</h2>")
    for r in problems:
        out.append(
            f"<details open><summary class='{r.outcome.value}'><b>{r.outcome.value}</b> "
            f"{escape(r.check_id)} · {escape(r.mode)} · {escape(r.operation)}: "
            f"{escape(r.summary())}</summary><p class='muted'>{escape(r.description)}</p>"
        )
        for f in r.findings:
            if f.outcome not in shown:
                continue
            out.append(f"<p><b>{f.outcome.value}</b> {escape(f.message)}</p>")
            if f.curl:
                out.append(f"<p>Reproduce:</p><pre>{escape(f.curl)}</pre>")
            if f.evidence:
                out.append(f"<p>Response:</p><pre>{escape(f.evidence)}</pre>")
        out.append("</details>")
    skipped = [r for r in report.results if r.outcome is Outcome.SKIP]
    out.append(
        f"<h2>Skipped ({len(skipped)})</h2><table><tr><th>check</th><th>mode</th><th>operation</th>"
        "<th>reason</th></tr>"
    )
    out += [
        f"<tr><td>{escape(r.check_id)}</td><td>{escape(r.mode)}</td><td>{escape(r.operation)}</td>"
        f"<td>{escape(r.summary())}</td></tr>"
        for r in skipped
    ]
    out.append("</table></body></html>\n")
    return "\n".join(out)
