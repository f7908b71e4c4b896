"""`dify-docs`: build and check the developer docs, preview them, bundle the spec.

    dify-docs build [--lang en,zh,ja] [--out build/docs] [--base-url URL]
    dify-docs check                        # catalogs complete and fresh, no English on zh/ja pages
    dify-docs serve [--port 8000]          # render on request, reload on edits (a preview)
    dify-docs bundle [--out build]         # openapi.bundled.json, openapi.deref.json

`--spec-dir` and `--docs-dir` default to the checkout this package lives in (or the current
directory when it is installed elsewhere).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def default_root() -> Path:
    """The repository that holds `spec/` and `docs/`: this package's checkout, else the cwd."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "spec" / "openapi.yaml").is_file() and (checkout / "docs" / "templates").is_dir():
        return checkout
    return Path.cwd()


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_build(args: argparse.Namespace) -> int:
    from spectools.docs import build_site

    langs = [lang.strip() for lang in args.lang.split(",") if lang.strip()] if args.lang else None
    try:
        written = build_site(args.spec_dir, args.docs_dir, Path(args.out), langs, args.base_url)
    except ValueError as exc:
        sys.stderr.write(f"dify-docs: {exc}\n")
        return 1
    _out(f"wrote {len(written)} files under {args.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from spectools.docs import check_catalogs, check_prose

    problems = check_catalogs(args.spec_dir, args.docs_dir)
    for problem in problems:
        _out(problem)
    _out("translation catalogs: " + (f"{len(problems)} problems" if problems else "complete and fresh"))
    leftovers = check_prose(args.spec_dir, args.docs_dir)
    for problem in leftovers:
        _out(problem)
    _out("zh/ja pages: " + (f"{len(leftovers)} English strings" if leftovers else "no English prose"))
    return 1 if problems or leftovers else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from spectools.docs import docs_asgi_app

    fixed = args.base_url
    app = docs_asgi_app(args.spec_dir, args.docs_dir, (lambda _scope: fixed) if fixed else None)
    _out(f"docs at http://{args.host}:{args.port}/en/index.html")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from spectools.bundle import BundleError, write_bundles

    try:
        written = write_bundles(args.spec_dir, Path(args.out))
    except (BundleError, FileNotFoundError) as exc:
        sys.stderr.write(f"dify-docs: {exc}\n")
        return 1
    for path in written:
        _out(str(path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    root = default_root()
    parser = argparse.ArgumentParser(prog="dify-docs", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    from spectools import source_dirs

    packaged_spec, packaged_docs = source_dirs()
    spec_default = packaged_spec if (packaged_spec / "openapi.yaml").is_file() else root / "spec"
    docs_default = packaged_docs if (packaged_docs / "templates").is_dir() else root / "docs"

    def dirs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--spec-dir", type=Path, default=spec_default)
        p.add_argument("--docs-dir", type=Path, default=docs_default)

    build = sub.add_parser("build", help="write the static site (HTML and Markdown)")
    build.add_argument("--lang", help="comma-separated languages (default: en,zh,ja)")
    build.add_argument("--out", default="build/docs")
    build.add_argument("--base-url", help="Service API base URL shown in the samples")
    dirs(build)
    build.set_defaults(func=cmd_build)
    check = sub.add_parser("check", help="fail on missing or stale translations and English on zh/ja pages")
    dirs(check)
    check.set_defaults(func=cmd_check)
    serve = sub.add_parser("serve", help="preview the site, rendered on request")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--base-url", help="Service API base URL shown in the samples")
    dirs(serve)
    serve.set_defaults(func=cmd_serve)
    bundle = sub.add_parser("bundle", help="write the bundled spec files")
    bundle.add_argument("--out", default="build")
    dirs(bundle)
    bundle.set_defaults(func=cmd_bundle)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
