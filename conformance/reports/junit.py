"""JUnit XML: one testsuite per app mode, one testcase per (operation x check)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from conformance.model import Outcome, Result
from conformance.runner import Report


def _details(result: Result) -> str:
    parts = []
    for f in result.findings:
        if f.outcome in (Outcome.FAIL, Outcome.WARN, Outcome.INCONCLUSIVE):
            parts.append(f"[{f.outcome.value}] {f.message}")
            if f.curl:
                parts.append(f"Reproduce with:\n    {f.curl}")
            if f.evidence:
                parts.append(f"Response:\n{f.evidence}")
    return "\n\n".join(parts)


def write(report: Report) -> str:
    root = ET.Element("testsuites", name="dify-conformance", time=f"{report.duration:.3f}")
    by_mode: dict[str, list[Result]] = defaultdict(list)
    for r in report.results:
        by_mode[r.mode].append(r)
    for mode, results in sorted(by_mode.items()):
        totals = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"dify-conformance.{mode}",
            tests=str(len(results)),
            failures=str(totals[Outcome.FAIL]),
            skipped=str(totals[Outcome.SKIP]),
            errors="0",
            time=f"{sum(r.duration for r in results):.3f}",
        )
        for r in results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{mode}.{r.operation}",
                name=r.check_id,
                time=f"{r.duration:.3f}",
            )
            if r.outcome is Outcome.FAIL:
                node = ET.SubElement(case, "failure", message=r.summary()[:500], type="FAIL")
                node.text = _details(r)
            elif r.outcome is Outcome.SKIP:
                ET.SubElement(case, "skipped", message=r.summary()[:500])
            elif r.outcome is Outcome.INCONCLUSIVE:
                ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {r.summary()}"[:500])
                props = ET.SubElement(case, "properties")
                ET.SubElement(props, "property", name="outcome", value="INCONCLUSIVE")
            elif r.outcome is Outcome.WARN:
                out = ET.SubElement(case, "system-out")
                out.text = _details(r)
                props = ET.SubElement(case, "properties")
                ET.SubElement(props, "property", name="outcome", value="WARN")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
