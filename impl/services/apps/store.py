"""Apps and their versions: import a DSL, list apps, load the context a key resolves to."""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.db.engine import Database
from impl.db.models import ApiKey, App, AppVersion, utcnow
from impl.errors import ApiError, forbidden
from impl.services.apps import keys
from impl.services.apps.dsl import (
    RUNNABLE_MODES,
    ParsedDsl,
    check_runnable,
    dsl_max_active_requests,
    parse_dsl,
)
from impl.tasks.single_flight import SingleFlight

T = TypeVar("T")
C = TypeVar("C")


@dataclass(frozen=True)
class AppContext:
    """What a request knows about the app its key belongs to (the published version's config)."""

    app_id: str
    tenant_id: str
    mode: str
    name: str
    description: str
    version_id: str | None
    model_config: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    user_input_form: list[dict[str, Any]] = field(default_factory=list)
    workflow_graph: dict[str, Any] | None = None
    icon_type: str | None = None
    icon: str | None = None
    icon_background: str | None = None
    use_icon_as_answer_icon: bool = False
    author_name: str = ""
    tags: list[str] = field(default_factory=list)
    site: dict[str, Any] = field(default_factory=dict)
    key_id: str | None = None
    # The app's own limit of running generation requests; None → APP_MAX_ACTIVE_REQUESTS.
    max_active_requests: int | None = None


@dataclass(frozen=True)
class AppSummary:
    id: str
    name: str
    mode: str
    version: int | None
    enable_api: bool
    created_at: datetime
    active_keys: int


@dataclass(frozen=True)
class VersionConfig:
    """The parsed per-version part of an `AppContext` (published versions never change)."""

    id: str
    model_config: dict[str, Any]
    features: dict[str, Any]
    user_input_form: list[Any]
    workflow_graph: dict[str, Any] | None
    max_active_requests: int | None = None


# Parsed published versions by id: a version row is written once and never updated (a new
# import adds a new version), so this never goes stale; app status and keys are never cached.
VERSION_CACHE_SIZE = 256
_versions: OrderedDict[str, VersionConfig] = OrderedDict()


def version_config(version: AppVersion) -> VersionConfig:
    return VersionConfig(
        id=version.id,
        model_config=version.model_config,
        features=version.features,
        user_input_form=version.user_input_form,
        workflow_graph=version.workflow_graph,
        max_active_requests=dsl_max_active_requests(version.dsl) if version.dsl else None,
    )


async def cached_version(session: AsyncSession, version_id: str | None) -> VersionConfig | None:
    """The app version `version_id` (None when unset or missing), parsed once per process."""
    if version_id is None:
        return None
    found = _versions.get(version_id)
    if found is not None:
        _versions.move_to_end(version_id)
        return found
    row = await session.get(AppVersion, version_id)
    if row is None:
        return None
    found = version_config(row)
    _versions[version_id] = found
    while len(_versions) > VERSION_CACHE_SIZE:
        _versions.popitem(last=False)
    return found


def context_of(app: App, version: AppVersion | VersionConfig | None, key_id: str | None = None) -> AppContext:
    """The request's view of the app; the version's JSON is copied, so a request that changes
    its context never changes another request's (or the version cache's)."""
    part = version_config(version) if isinstance(version, AppVersion) else version
    return AppContext(
        app_id=app.id,
        tenant_id=app.tenant_id,
        mode=app.mode,
        name=app.name,
        description=app.description,
        version_id=part.id if part else None,
        model_config=copy.deepcopy(part.model_config) if part else {},
        features=copy.deepcopy(part.features) if part else {},
        user_input_form=copy.deepcopy(part.user_input_form) if part else [],
        workflow_graph=copy.deepcopy(part.workflow_graph) if part else None,
        icon_type=app.icon_type,
        icon=app.icon,
        icon_background=app.icon_background,
        use_icon_as_answer_icon=app.use_icon_as_answer_icon,
        author_name=app.author_name,
        tags=[str(t) for t in app.tags or []],
        site=dict(app.site or {}),
        key_id=key_id,
        max_active_requests=part.max_active_requests if part else None,
    )


def check_serviceable(app: App | None) -> App:
    """Dify's gating after a valid key (403 forbidden)."""
    if app is None:
        raise forbidden("The app no longer exists.")
    if app.status != "normal":
        raise forbidden("The app's status is abnormal.")
    if not app.enable_api:
        raise forbidden("The app's API service has been disabled.")
    return app


async def load_context(db: Database, app_id: str, key_id: str | None = None) -> AppContext:
    async with db.session() as session:
        app = check_serviceable(await session.get(App, app_id))
        return context_of(app, await cached_version(session, app.current_version_id), key_id)


# Built once: the key with the given hash, and its app (None when the app is gone).
_KEY_WITH_APP = (
    select(ApiKey, App)
    .outerjoin(App, App.id == ApiKey.app_id)
    .where(ApiKey.token_hash == bindparam("digest"))
)


# Resolved keys by digest, for `ttl` seconds: (expiry, context template or the 403 to answer).
# Bounded LRU; unknown and revoked keys are never cached, so a new key works at once and a
# revocation, a disabled app or a new version apply within `ttl` on every worker.
KEY_CACHE_SIZE = 10_000
_resolved: OrderedDict[str, tuple[float, AppContext | ApiError]] = OrderedDict()
_lookups: SingleFlight[str, AppContext | None] = SingleFlight()  # lookups under way, by digest


def copy_json(value: Any) -> Any:
    """A deep copy of parsed JSON/YAML data (dicts, lists, scalars), several times cheaper than
    `copy.deepcopy`, which dominated a cached request's profile; other objects are shared."""
    kind = type(value)
    if kind is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if kind is list:
        return [copy_json(v) for v in value]
    return value


class _CopiedOnRead:
    """A mutable part of a request's `AppContext`: copied from the cached template the first
    time the request reads it, so a request never changes what the next one sees, and a request
    that does not read it (most read one or two parts) does not pay for the copy."""

    def __init__(self, copy: Callable[[Any], Any]) -> None:
        self.copy = copy
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, ctx: Any, owner: type | None = None) -> Any:
        if ctx is None:
            return self
        own = ctx.__dict__
        try:
            return own[self.name]
        except KeyError:
            value = own[self.name] = self.copy(getattr(own["_template"], self.name))
            return value

    def __set__(self, ctx: Any, value: Any) -> None:  # the dataclass's __init__ (`replace`)
        ctx.__dict__[self.name] = value


class RequestContext(AppContext):
    """A request's own `AppContext` over the cached one (`_fresh_copy`)."""

    model_config = _CopiedOnRead(copy_json)
    features = _CopiedOnRead(copy_json)
    user_input_form = _CopiedOnRead(copy_json)
    workflow_graph = _CopiedOnRead(copy_json)
    tags = _CopiedOnRead(list)
    site = _CopiedOnRead(dict)


_COPIED_ON_READ = frozenset(
    name for name, value in vars(RequestContext).items() if isinstance(value, _CopiedOnRead)
)


def _fresh_copy(template: AppContext) -> AppContext:
    """A request's own context: the cached template's mutable parts are copied when read."""
    ctx = RequestContext.__new__(RequestContext)
    own = ctx.__dict__
    for name, value in template.__dict__.items():
        if name not in _COPIED_ON_READ and name != _DERIVED:
            own[name] = value
    own["_template"] = template
    return ctx


def shared_context(ctx: C) -> C:
    """The cached context a request's context reads from, for code that only reads it (and
    builds its answer without changing any part): no copy at all. Anything else is returned
    as it is."""
    template = getattr(ctx, "__dict__", {}).get("_template")
    return template if isinstance(template, AppContext) else ctx  # type: ignore[return-value]


_DERIVED = "_derived"  # a cached context's values computed from it (`derived`)


def derived(ctx: AppContext, build: Callable[[AppContext], T]) -> T:
    """`build` of the cached context a request's context reads from, computed once per cached
    context and shared by all its requests, which must not change it (a frozen value): parsing
    the app's config for every turn cost a tenth of a blocking chat turn. A context renewed from
    the database (new version, after `KEY_CACHE_SECONDS`) starts without values."""
    template = shared_context(ctx)
    values: dict[Callable[[AppContext], Any], Any] = template.__dict__.setdefault(_DERIVED, {})
    try:
        return values[build]  # type: ignore[no-any-return]
    except KeyError:
        value = values[build] = build(template)
        return value


def forget_resolved_keys() -> None:
    _resolved.clear()
    _lookups.clear()


async def context_for_token(db: Database, token: str, ttl: float = 0.0) -> AppContext | None:
    """The context of the app whose active key is `token`, in one session and one query (the key
    joined with its app); None for a malformed, unknown or revoked key.  Records the key's use,
    then answers 403 for a key whose app is gone, disabled or abnormal (`check_serviceable`).
    With `ttl` > 0 a resolved key is reused for that many seconds without a database query."""
    if not keys.well_formed(token):
        return None
    digest = keys.hash_key(token)
    if ttl > 0:
        cached = _resolved.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            if isinstance(cached[1], ApiError):
                raise cached[1]
            return _fresh_copy(cached[1])
        # A burst of requests with this key when its entry expired: one lookup, the others
        # wait for it (after a 1 s expiry, 1,000 open requests would each query and write).
        outcome = await _lookups.run(digest, lambda: _lookup(db, digest, ttl))
        return None if outcome is None else _fresh_copy(outcome)
    return await _lookup(db, digest, ttl)


async def _lookup(db: Database, digest: str, ttl: float) -> AppContext | None:
    """The key's app context from the database (remembered for `ttl` seconds)."""
    async with db.session() as session:
        found = (await session.execute(_KEY_WITH_APP, {"digest": digest})).first()
        if found is None:
            _resolved.pop(digest, None)
            return None
        key, app = found
        if not keys.matches(key, digest):
            _resolved.pop(digest, None)
            return None
        await keys.touch(session, key)
        try:
            check_serviceable(app)
        except ApiError as refused:
            _remember(digest, refused, ttl)
            raise
        context = context_of(app, await cached_version(session, app.current_version_id), key.id)
    _remember(digest, context, ttl)
    return context


def _remember(digest: str, outcome: AppContext | ApiError, ttl: float) -> None:
    if ttl <= 0:
        return
    _resolved[digest] = (time.monotonic() + ttl, outcome)
    _resolved.move_to_end(digest)
    while len(_resolved) > KEY_CACHE_SIZE:
        _resolved.popitem(last=False)


async def import_app(
    db: Database,
    dsl_text: str,
    app_id: str | None = None,
    *,
    runnable: frozenset[str] = RUNNABLE_MODES,
) -> tuple[App, AppVersion]:
    """Create an app from a DSL, or publish a new version of `app_id` (same mode only)."""
    parsed: ParsedDsl = parse_dsl(dsl_text)
    check_runnable(parsed, runnable)
    async with db.transaction() as session:
        if app_id is None:
            app = App(mode=parsed.mode, name=parsed.name)
            session.add(app)
            await session.flush()
            number = 1
        else:
            found = await session.get(App, app_id)
            if found is None:
                raise ApiError("not_found", f"App {app_id} not found.", 404)
            app = found
            if app.mode != parsed.mode:
                raise ApiError(
                    "invalid_param",
                    f"App {app_id} is a {app.mode} app; the DSL describes a {parsed.mode} app.",
                    400,
                )
            latest = await session.scalar(
                select(func.max(AppVersion.version)).where(AppVersion.app_id == app.id)
            )
            number = int(latest or 0) + 1
        app.name = parsed.name
        app.description = parsed.description
        app.icon_type = parsed.icon_type
        app.icon = parsed.icon
        app.icon_background = parsed.icon_background
        app.use_icon_as_answer_icon = parsed.use_icon_as_answer_icon
        version = AppVersion(
            app_id=app.id,
            version=number,
            dsl_version=parsed.dsl_version,
            mode=parsed.mode,
            dsl=dsl_text,
            model_config=parsed.model_config,
            features=parsed.features,
            user_input_form=parsed.user_input_form,
            workflow_graph=parsed.workflow_graph,
        )
        session.add(version)
        await session.flush()
        app.current_version_id = version.id
        app.updated_at = utcnow()
        return app, version


async def current_dsl(db: Database, app_id: str) -> str:
    """The DSL text of the app's current version (404 envelope when the app or version is gone)."""
    async with db.session() as session:
        app = await session.get(App, app_id)
        current = app.current_version_id if app is not None else None
        version = await session.get(AppVersion, current) if current else None
    if version is None:
        raise ApiError("not_found", f"App {app_id} not found.", 404)
    return version.dsl


async def list_apps(db: Database) -> list[AppSummary]:
    async with db.session() as session:
        apps = (await session.scalars(select(App).order_by(App.created_at, App.id))).all()
        versions = {
            v.id: v.version
            for v in (
                await session.scalars(
                    select(AppVersion).where(
                        AppVersion.id.in_([a.current_version_id for a in apps if a.current_version_id])
                    )
                )
            ).all()
        }
        counts = dict(
            (
                await session.execute(
                    select(ApiKey.app_id, func.count())
                    .where(ApiKey.revoked_at.is_(None))
                    .group_by(ApiKey.app_id)
                )
            )
            .tuples()
            .all()
        )
        return [
            AppSummary(
                id=a.id,
                name=a.name,
                mode=a.mode,
                version=versions.get(a.current_version_id or ""),
                enable_api=a.enable_api,
                created_at=a.created_at,
                active_keys=int(counts.get(a.id, 0)),
            )
            for a in apps
        ]


async def get_app(db: Database, app_id: str) -> App | None:
    async with db.session() as session:
        return await session.get(App, app_id)


async def set_api_enabled(db: Database, app_id: str, enabled: bool) -> None:
    async with db.transaction() as session:
        app = await session.get(App, app_id)
        if app is None:
            raise ApiError("not_found", f"App {app_id} not found.", 404)
        app.enable_api = enabled
