"""The JSON report: the run's settings, totals and every result with its findings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from conformance.catalog import BY_ID
from conformance.runner import Report


def as_dict(report: Report) -> dict[str, object]:
    cfg = report.config
    return {
        "tool": "dify-conformance",
        "started_at": datetime.fromtimestamp(report.started_at, UTC).isoformat(),
        "base_url": cfg.base_url,
        "modes": sorted(cfg.keys),
        "profile": cfg.profile,
        "seed": cfg.seed,
        "duration_s": round(report.duration, 2),
        "requests": report.requests,
        "totals": {k.value: v for k, v in report.totals.items()},
        "capabilities": report.capabilities,
        "exit_code": report.exit_code,
        "checks": {cid: {"group": c.group, "description": c.description} for cid, c in BY_ID.items()},
        "results": [r.to_json() for r in report.results],
    }


def write(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"
