"""`dify-conformance`: run the suite against a server and write reports.

Exit codes: 0 every check passed (warnings allowed), 1 some check failed, 2 the run could not start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from conformance.catalog import CHECKS
from conformance.config import ConfigError, RunConfig, load_file, parse_key
from conformance.reports import write_all
from conformance.reports.console import Live, summary
from conformance.runner import EXIT_CANNOT_START, CannotStart, run
from conformance.spec import SpecError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dify-conformance", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the suite against a server")
    r.add_argument("--base-url", help="Service API base URL, e.g. http://127.0.0.1:5001/v1")
    r.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="MODE=APP_KEY",
        help="app key for one app mode (repeatable)",
    )
    r.add_argument("--profile", choices=["core", "full"])
    r.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only checks whose id, operation or mode matches (repeatable)",
    )
    r.add_argument(
        "--skip", action="append", default=[], metavar="GLOB", help="skip matching checks (repeatable)"
    )
    r.add_argument("--report", help="comma-separated report formats: junit,json,html")
    r.add_argument("--report-dir", help="directory for the reports (default conformance-report)")
    r.add_argument("--seed", type=int)
    r.add_argument("--spec", help="directory with openapi.yaml and events.schema.json")
    r.add_argument("--config", help="a conformance.toml (default: ./conformance.toml if present)")
    r.add_argument("-v", "--verbose", action="store_true", help="also print passing and skipped checks")
    sub.add_parser("checks", help="list every check id with its description")
    return p


def build_config(args: argparse.Namespace) -> RunConfig:
    path = args.config or ("conformance.toml" if Path("conformance.toml").is_file() else None)
    cfg = load_file(path) if path else RunConfig()
    if args.base_url:
        cfg.base_url = args.base_url
    for text in args.key:
        mode, key = parse_key(text)
        cfg.keys[mode] = key
    if args.profile:
        cfg.profile = args.profile
    cfg.only += [p for arg in args.only for p in arg.split(",") if p]
    cfg.skip += [p for arg in args.skip for p in arg.split(",") if p]
    if args.report:
        cfg.reports = [x.strip() for x in args.report.split(",") if x.strip()]
    if args.report_dir:
        cfg.report_dir = args.report_dir
    if args.seed is not None:
        cfg.seed = args.seed
    if args.spec:
        cfg.spec = args.spec
    cfg.validate()
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
    if args.command == "checks":
        for c in CHECKS:
            console.print(f"[bold]{c.id}[/bold]  {c.description}", highlight=False)
        return 0
    try:
        cfg = build_config(args)
    except ConfigError as exc:
        console.print(f"[red]cannot start:[/red] {exc}")
        return EXIT_CANNOT_START
    live = Live(console, verbose=args.verbose)
    try:
        report = run(cfg, listeners=[live.finding], on_group=live.group)
    except (CannotStart, SpecError, ConfigError) as exc:
        console.print(f"[red]cannot start:[/red] {exc}")
        return EXIT_CANNOT_START
    summary(console, report)
    for path in write_all(report, cfg.reports, cfg.report_dir):
        console.print(f"report: {path}")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
