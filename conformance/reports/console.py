"""Live progress and the final summary table in the terminal (rich)."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from conformance.model import Finding, Outcome, Result
from conformance.runner import Report

STYLE = {
    Outcome.PASS: "green",
    Outcome.FAIL: "bold red",
    Outcome.WARN: "yellow",
    Outcome.SKIP: "dim",
    Outcome.INCONCLUSIVE: "magenta",
}


class Live:
    """Prints one line per non-passing finding and a line per check group as it starts."""

    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self.counts: dict[Outcome, int] = defaultdict(int)

    def group(self, name: str) -> None:
        self.console.print(f"[bold]▶ {name}[/bold]")

    def finding(self, result: Result, finding: Finding) -> None:
        self.counts[finding.outcome] += 1
        if finding.outcome is Outcome.PASS and not self.verbose:
            return
        if finding.outcome is Outcome.SKIP and not self.verbose:
            return
        style = STYLE[finding.outcome]
        self.console.print(
            f"  [{style}]{finding.outcome.value:4}[/{style}] {result.check_id} "
            f"[dim]{result.mode}:{result.operation}[/dim] {finding.message}",
            highlight=False,
        )


def summary(console: Console, report: Report) -> None:
    for mode, caps in sorted(report.capabilities.items()):
        offered = [name for name, c in caps.items() if isinstance(c, dict) and c.get("available")]
        console.print(f"[bold]{mode}[/bold] offers: {', '.join(offered) or 'none of the optional features'}")
    for mode in sorted({r.mode for r in report.results}):
        results = [r for r in report.results if r.mode == mode]
        groups = sorted({r.check_id.split(".")[0] for r in results})
        table = Table(title=f"{mode}: operation × check group", show_lines=False)
        table.add_column("operation")
        for g in groups:
            table.add_column(g, justify="center")
        for op in sorted({r.operation for r in results}):
            row = [op]
            for g in groups:
                cell = [r for r in results if r.operation == op and r.check_id.split(".")[0] == g]
                if not cell:
                    row.append("")
                    continue
                worst = max(cell, key=lambda r: r.outcome.rank).outcome
                if worst is Outcome.SKIP and any(r.outcome is Outcome.PASS for r in cell):
                    worst = Outcome.PASS
                n = sum(1 for r in cell if r.outcome is worst)
                row.append(f"[{STYLE[worst]}]{worst.value} {n}/{len(cell)}[/{STYLE[worst]}]")
            table.add_row(*row)
        console.print(table)
    t = report.totals
    console.print(
        f"[green]{t[Outcome.PASS]} passed[/green], [red]{t[Outcome.FAIL]} failed[/red], "
        f"[yellow]{t[Outcome.WARN]} warnings[/yellow], "
        f"[magenta]{t[Outcome.INCONCLUSIVE]} inconclusive[/magenta], "
        f"[dim]{t[Outcome.SKIP]} skipped[/dim] "
        f"in {report.duration:.1f}s ({report.requests} requests)"
    )
