"""`dify-service`: run the reference server and manage its apps, keys and database."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from impl.config import EXAMPLES_DIR, Settings
from impl.db import migrate
from impl.db.engine import Database
from impl.errors import ApiError
from impl.knowledge import IndexReport, index_all
from impl.knowledge import load as load_knowledge
from impl.routing import MissingHandlersError
from impl.services import requirements
from impl.services.apps import keys, store
from impl.services.apps.dsl import RUNNABLE_MODES, DslError
from impl.spec import SpecError

DEMO_FILES = {
    mode: EXAMPLES_DIR / f"{mode}.yml"
    for mode in ("chat", "completion", "agent-chat", "advanced-chat", "workflow")
}
T = TypeVar("T")


class CliError(Exception):
    pass


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "database_url", None):
        overrides["database_url_override"] = args.database_url
    if getattr(args, "log_level", None):
        overrides["log_level"] = args.log_level.upper()
    if getattr(args, "validate_responses", False):
        overrides["validate_responses"] = True
    return Settings.from_env(**overrides)


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    migrate.upgrade(settings.database_url)

    async def run() -> T:
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


# ---- demo ------------------------------------------------------------------------------------


async def seed_demo(db: Database, data_dir: Path) -> dict[str, str]:
    """One app per runnable mode from examples/apps, created once; keys kept in demo-keys.json."""
    keys_file = data_dir / "demo-keys.json"
    known: dict[str, str] = {}
    if keys_file.exists():
        try:
            known = {str(k): str(v) for k, v in json.loads(keys_file.read_text()).items()}
        except (ValueError, AttributeError):
            known = {}
    result: dict[str, str] = {}
    for mode in sorted(RUNNABLE_MODES):
        token = known.get(mode)
        if token and await keys.find_active_key(db, token) is not None:
            result[mode] = token
            continue
        app, _version = await store.import_app(db, DEMO_FILES[mode].read_text(encoding="utf-8"))
        result[mode], _info = await keys.create_key(db, app.id)
    data_dir.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(json.dumps(result, indent=2) + "\n")
    return result


# ---- commands --------------------------------------------------------------------------------


def _graceful_server_class() -> type[Any]:
    import uvicorn

    from impl import runtime

    class GracefulServer(uvicorn.Server):
        """Ends running generations (each stream closes with its terminal event) before uvicorn
        starts waiting for open connections; otherwise open streams would hold the shutdown for
        the whole grace period and then be cut."""

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            await runtime.current().tasks.shutdown()
            await super().shutdown(sockets)

    return GracefulServer


def _uvicorn_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """What one worker and `--workers N` share: address, event loop, logging, graceful stop."""
    return {
        "host": args.host,
        "port": args.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": settings.log_level.lower(),
        "access_log": args.access_log,
        "timeout_graceful_shutdown": 10,
        "lifespan": "on",
    }


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from impl.app import create_app

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.demo:
        demo_keys = _with_db(settings, lambda db: seed_demo(db, settings.data_dir))
        base = f"http://{args.host}:{args.port}/v1"
        _out(f"demo apps ready at {base}")
        for mode, token in demo_keys.items():
            _out(f"  {mode}: {token}")
        _out(f"  (keys also in {settings.data_dir / 'demo-keys.json'})")
    if not args.no_docs:
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        build_docs_site(settings, args.docs_base_url or f"http://{host}:{args.port}/v1")
    if args.workers > 1:
        return _serve_workers(args, settings)
    app = create_app(settings)
    _GracefulServer = _graceful_server_class()
    config = uvicorn.Config(
        app,
        **_uvicorn_options(args, settings),
    )
    server = _GracefulServer(config)
    tune_gc()
    server.run()
    return 0 if server.started else 1


GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Before a server process serves: what was built so far (the spec, its validators, the
    app) lives as long as the process, so it is moved out of the cycle collector's sight, and
    young objects are collected every 50,000 allocations instead of 700.  Under a thousand open
    streams the collector took ~2.5 s of the server's CPU with Python's defaults (measured with
    `gc.callbacks` during `bench/streams.py --streams 1000`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def worker_app() -> Any:
    """The app of one `serve --workers N` worker process (settings from the environment the
    parent set)."""
    from impl.app import create_app

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    tune_gc()
    return app


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """N uvicorn worker processes on one socket. They share the database and Redis, which
    carries what must cross processes (stop flags, live event logs); without Redis a stop or a
    follow landing on another worker would find nothing, so it is required."""
    import uvicorn

    if not settings.redis_url:
        _out("--workers N needs REDIS_URL: the workers share stop flags and live run events through Redis.")
        return 2
    os.environ.update(
        {
            "DIFY_DATA_DIR": str(settings.data_dir),
            "DATABASE_URL": settings.database_url,
            "LOG_LEVEL": settings.log_level,
            "VALIDATE_RESPONSES": "true" if settings.validate_responses else "false",
        }
    )
    uvicorn.run(
        "impl.cli:worker_app",
        factory=True,
        workers=args.workers,
        **_uvicorn_options(args, settings),
    )
    return 0


def cmd_apps_import(args: argparse.Namespace) -> int:
    settings = _settings(args)
    text = Path(args.file).read_text(encoding="utf-8")

    async def work(db: Database) -> tuple[str, str, int, str]:
        app, version = await store.import_app(db, text, args.app_id)
        token = ""
        if args.app_id is None or args.new_key:
            token, _info = await keys.create_key(db, app.id)
        return app.id, app.mode, version.version, token

    app_id, mode, number, token = _with_db(settings, work)
    _out(f"app {app_id} ({mode}) version {number}")
    if token:
        _out(f"key: {token}")
        _out("(the key is shown only once)")
    _warn(requirements.check_text(text, requirements.environment_of(settings.openai_api_key)))
    return 0


def _warn(findings: Sequence[requirements.Finding]) -> None:
    """What cannot run here, on stderr (the import itself succeeded)."""
    if findings:
        sys.stderr.write(f"warning: {len(findings)} part(s) of this app cannot run on this server:\n")
    for finding in findings:
        sys.stderr.write(f"warning: {finding}\n")
    sys.stderr.flush()


def cmd_apps_check(args: argparse.Namespace) -> int:
    """APP is a DSL file (when such a file exists) or the id of an imported app. Exit 0 when
    everything can run here, 1 when something cannot (each printed as a warning), 2 when APP is
    neither a DSL nor a known app."""
    settings = _settings(args)
    path = Path(args.app)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        where = str(path)
    else:
        try:
            text = _with_db(settings, lambda db: store.current_dsl(db, args.app))
        except ApiError as exc:
            sys.stderr.write(f"dify-service: {exc.message} (APP is a DSL file or an imported app id)\n")
            return 2
        where = f"app {args.app}"
    findings = requirements.check_text(text, requirements.environment_of(settings.openai_api_key))
    _warn(findings)
    if not findings:
        _out(f"{where}: every node, model, tool and knowledge base it uses is available here")
        return 0
    _out(f"{where}: {len(findings)} warning(s)")
    return 1


def cmd_apps_list(args: argparse.Namespace) -> int:
    rows = _with_db(_settings(args), store.list_apps)
    if args.json:
        _out(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "name": r.name,
                        "mode": r.mode,
                        "version": r.version,
                        "enable_api": r.enable_api,
                        "active_keys": r.active_keys,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    for r in rows:
        _out(f"{r.id}  {r.mode:<13} v{r.version or 0:<3} keys={r.active_keys}  {r.name}")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    token, info = _with_db(_settings(args), lambda db: keys.create_key(db, args.app_id))
    _out(f"key {info.id} for app {info.app_id}")
    _out(f"key: {token}")
    _out("(the key is shown only once)")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    rows = _with_db(_settings(args), lambda db: keys.list_keys(db, args.app_id))
    for r in rows:
        state = "active" if r.active else f"revoked {r.revoked_at:%Y-%m-%d %H:%M:%S}"
        used = f"{r.last_used_at:%Y-%m-%d %H:%M:%S}" if r.last_used_at else "never"
        _out(f"{r.id}  {r.prefix}…  app={r.app_id}  {state}  last used {used}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    info = _with_db(_settings(args), lambda db: keys.revoke_key(db, args.key))
    _out(f"revoked key {info.id} ({info.prefix}…) of app {info.app_id}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    migrate.upgrade(settings.database_url)
    _out(f"database at revision {migrate.current_revision(settings.database_url)}")
    return 0


def cmd_knowledge_index(args: argparse.Namespace) -> int:
    """Bring the index of every mapped dataset in line with its files. Exit 1 when a file (or a
    dataset's folder, or its embedding model) failed, 2 when the configuration is malformed."""
    settings = _settings(args)
    try:
        config = load_knowledge()
    except ValueError as exc:
        sys.stderr.write(f"dify-service: {exc}\n")
        return 2
    if not config.datasets:
        _out("no datasets are mapped (set DIFY_KNOWLEDGE or DIFY_DATASET_<ID>)")
        return 0
    reports: list[IndexReport] = _with_db(settings, lambda db: index_all(db, config))
    failed = 0
    for report in reports:
        _out(str(report))
        for problem in report.failed:
            sys.stderr.write(f"warning: {report.dataset_id}: {problem}\n")
        failed += len(report.failed)
    return 1 if failed else 0


def cmd_spec_tools(args: argparse.Namespace) -> int:
    """`dify-service docs …` and `dify-service spec bundle`: shims over `dify-docs`."""
    from spectools.cli import main as spectools_main

    return spectools_main(args.spectools_argv)


def build_docs_site(settings: Settings, base_url: str) -> bool:
    """Render the docs site the server mounts at `/docs` into the data directory.

    Skipped when the spec, the docs sources, the renderer and the base URL are unchanged since
    the last build (a stamp file in the site).  Returns whether it rendered.
    """
    import hashlib

    from spectools import docs as spectools_docs
    from spectools import source_dirs

    spec_dir, docs_dir = source_dirs()
    digest = hashlib.sha256(base_url.encode())
    renderer = Path(spectools_docs.__file__).parent
    for folder in (spec_dir, docs_dir, renderer):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    site = settings.docs_site_dir
    stamp = site / ".built-from"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return False
    spectools_docs.build_site(spec_dir, docs_dir, site, base_url=base_url)
    stamp.write_text(digest.hexdigest())
    return True


# ---- parser ----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (default ./data or $DIFY_DATA_DIR)")
    p.add_argument("--database-url", help="SQLAlchemy async URL (default: SQLite in the data directory)")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dify-service", description="Reference server of the Dify Service API."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.add_argument("--demo", action="store_true", help="seed one app per implemented mode and print keys")
    serve.add_argument("--validate-responses", action="store_true", help="check responses against the spec")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--no-docs", action="store_true", help="do not build the docs site served at /docs")
    serve.add_argument("--docs-base-url", help="base URL in the docs samples (default: this server's /v1)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes on one port (more than 1 needs REDIS_URL)"
    )
    serve.set_defaults(func=cmd_serve)

    apps_p = sub.add_parser("apps", help="import and list apps, manage their keys")
    apps_sub = apps_p.add_subparsers(dest="apps_command", required=True)
    imp = apps_sub.add_parser("import", help="import a Dify DSL file (new app, or new version with --app-id)")
    _common(imp)
    imp.add_argument("file")
    imp.add_argument("--app-id", help="publish the DSL as a new version of this app")
    imp.add_argument("--new-key", action="store_true", help="also create a key when updating an app")
    imp.set_defaults(func=cmd_apps_import)
    chk = apps_sub.add_parser(
        "check", help="say what of an app (a DSL file or an imported app id) cannot run on this server"
    )
    _common(chk)
    chk.add_argument("app", help="a DSL file, or the id of an imported app")
    chk.set_defaults(func=cmd_apps_check)
    lst = apps_sub.add_parser("list", help="list apps")
    _common(lst)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_apps_list)

    keys_p = apps_sub.add_parser("keys", help="create, list and revoke app keys")
    keys_sub = keys_p.add_subparsers(dest="keys_command", required=True)
    kc = keys_sub.add_parser("create", help="create a key for an app (printed once)")
    _common(kc)
    kc.add_argument("app_id")
    kc.set_defaults(func=cmd_keys_create)
    kl = keys_sub.add_parser("list", help="list keys (prefix only)")
    _common(kl)
    kl.add_argument("app_id", nargs="?")
    kl.set_defaults(func=cmd_keys_list)
    kr = keys_sub.add_parser("revoke", help="revoke a key by id or by the key itself")
    _common(kr)
    kr.add_argument("key")
    kr.set_defaults(func=cmd_keys_revoke)

    db_p = sub.add_parser("db", help="database maintenance")
    db_sub = db_p.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the migrations")
    _common(up)
    up.set_defaults(func=cmd_db_upgrade)

    kn_p = sub.add_parser("knowledge", help="local knowledge bases (Dify datasets mapped to files)")
    kn_sub = kn_p.add_subparsers(dest="knowledge_command", required=True)
    kn_index = kn_sub.add_parser("index", help="index the files of every mapped dataset (changed files only)")
    _common(kn_index)
    kn_index.set_defaults(func=cmd_knowledge_index)

    # Thin shims over `dify-docs` (spectools): the same arguments, the same behaviour.
    spec_p = sub.add_parser("spec", help="spec tooling (same as `dify-docs bundle`)")
    spec_p.add_argument("spectools_argv", nargs=argparse.REMAINDER, metavar="bundle [--out DIR]")
    spec_p.set_defaults(func=cmd_spec_tools)
    docs_p = sub.add_parser("docs", help="developer docs (same as `dify-docs build|check|serve`)")
    docs_p.add_argument("spectools_argv", nargs=argparse.REMAINDER, metavar="build|check|serve ...")
    docs_p.set_defaults(func=cmd_spec_tools)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except DslError as exc:
        sys.stderr.write(f"dify-service: invalid DSL: {exc}\n")
        return 2
    except ApiError as exc:
        sys.stderr.write(f"dify-service: {exc.message}\n")
        return 1
    except (CliError, OSError, SpecError, MissingHandlersError) as exc:
        sys.stderr.write(f"dify-service: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
