"""The application factory: spec → Connexion AsyncApp with handlers, auth, errors, runtime."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from connexion import AsyncApp
from connexion.options import SwaggerUIOptions

from impl import knowledge, runtime, sandbox
from impl.auth import SECURITY_MAP, inject_bearer_func
from impl.config import Settings
from impl.db import migrate
from impl.db.engine import Database
from impl.errors import install_error_handlers
from impl.limits.active import ActiveRequestsMiddleware, limited_operations, new_active_requests
from impl.limits.body import (
    BodySizeLimitMiddleware,
    JsonBodyPolicy,
    JsonBodyPolicyMiddleware,
    json_body_operations,
)
from impl.mounts import DOCS_PREFIX, PrefixMountMiddleware, static_site_app
from impl.routing import (
    ModeGateMiddleware,
    RegistryResolver,
    check_complete,
    discover_handlers,
    mode_gates,
    spec_operations,
    use_once_decorated,
)
from impl.services.runs import leases
from impl.services.starters import modes_without_starter
from impl.services.workflows import resume
from impl.spec import load_spec
from impl.stack import SwaggerUIPassMiddleware, middlewares, swagger_prefixes, validator_map

log = logging.getLogger("impl.app")
BASE_PATH = "/v1"


async def index_knowledge(database: Database) -> None:
    """Index the mapped knowledge bases' new and changed files (a bad configuration or file is
    logged; the server starts either way and retrieval skips what is not indexed)."""
    try:
        config = knowledge.load()
    except ValueError as exc:
        log.error("knowledge: %s", exc)
        return
    if not config.datasets:
        return
    try:
        reports = await knowledge.index_all(database, config)
    except Exception:  # e.g. another worker of the deployment indexing the same files right now
        log.exception("knowledge: indexing stopped; `dify-service knowledge index` finishes it")
        return
    for report in reports:
        log.info("knowledge: %s", report)
        for problem in report.failed:
            log.warning("knowledge: %s: %s", report.dataset_id, problem)


def create_app(settings: Settings | None = None, *, validate_responses: bool | None = None) -> AsyncApp:
    """Build the server.  Startup fails when any operation of the spec has no handler, or any
    mode that generates messages has no starter."""
    settings = settings or Settings.from_env()
    validate = settings.validate_responses if validate_responses is None else validate_responses
    spec = inject_bearer_func(load_spec(settings.spec_path))
    discover_handlers()
    check_complete(spec)
    if missing_modes := modes_without_starter(spec):
        raise RuntimeError(f"app modes of the spec with no chat-mode starter: {', '.join(missing_modes)}")

    sandbox.configure(
        sandbox.Limits(
            wall_seconds=settings.code_execution_timeout,
            cpu_seconds=math.ceil(settings.code_execution_timeout),
            memory_mb=settings.code_execution_memory_mb,
        )
    )
    database = Database(settings.database_url)
    state = runtime.Runtime(
        settings=settings, database=database, tasks=runtime.new_task_registry(settings.redis_url)
    )
    keeper = leases.Keeper(rounds=[resume.keeper_round])
    active_requests = new_active_requests(getattr(getattr(state.tasks, "backend", None), "client", None))
    runtime.set_current(state)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
        runtime.set_current(state)
        await index_knowledge(database)
        await state.tasks.start()
        await keeper.start()
        log.info(
            "ready: database %s, shared state %s",
            database.dialect,
            "redis" if settings.redis_url else "in-process",
        )
        try:
            yield
        finally:
            await keeper.stop()
            await state.tasks.shutdown()
            await active_requests.close()
            await database.dispose()

    swagger = SwaggerUIOptions(spec_path="/openapi.json", swagger_ui_path="/ui")
    api_prefix, ui_prefixes = swagger_prefixes(BASE_PATH, swagger.spec_path or "", swagger.swagger_ui_path)
    app = AsyncApp(
        __name__,
        lifespan=lifespan,
        swagger_ui_options=swagger,
        validator_map=validator_map(),
        security_map=SECURITY_MAP,
        middlewares=middlewares(
            before_swagger=[
                partial(BodySizeLimitMiddleware, limit=settings.max_request_bytes),
                partial(
                    PrefixMountMiddleware, prefix=DOCS_PREFIX, mounted=static_site_app(settings.docs_site_dir)
                ),
            ],
            swagger=partial(SwaggerUIPassMiddleware, api_prefix=api_prefix, ui_prefixes=ui_prefixes),
            before_validation=[
                partial(ModeGateMiddleware, gates=mode_gates(spec)),
                partial(
                    JsonBodyPolicyMiddleware,
                    policy=JsonBodyPolicy(
                        max_json_body_bytes=settings.max_json_body_bytes,
                        max_depth=settings.max_json_depth,
                        max_digits=settings.max_number_digits,
                        max_text_chars=settings.max_text_chars,
                    ),
                    operations=json_body_operations(spec_operations(spec)),
                ),
            ],
            before_context=[
                partial(
                    ActiveRequestsMiddleware,
                    counter=active_requests,
                    default_limit=settings.app_max_active_requests,
                    operations=limited_operations(spec.get("x-error-codes") or {}),
                )
            ],
        ),
    )
    use_once_decorated(app)
    app.add_api(
        spec,
        base_path=BASE_PATH,
        resolver=RegistryResolver(),
        validate_responses=validate,
        strict_validation=False,
    )
    install_error_handlers(app)
    return app
