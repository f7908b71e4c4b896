"""operationId → handler registry, the Connexion resolver built on it, and the mode gate.

Handler modules register themselves with `@operation("<operationId>")`; `discover_handlers()`
imports every module of `impl.handlers` so a new module needs no edit here.  `use_once_decorated`
makes Connexion wrap each handler once per operation instead of once per request.
`ModeGateMiddleware` enforces the spec's mode gate: when an operation carries `x-mode-error` and the key's app
mode is not in its `x-app-modes`, the request fails with that error code before the body is
validated or the handler runs.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from connexion import AsyncApp
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.context import _operation, _receive, _scope
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator, sanitized
from connexion.resolver import Resolution, Resolver
from starlette.types import ASGIApp, Receive, Scope, Send

from impl.errors import mode_error
from impl.handler_call import CallPlan

Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_REGISTRY: dict[str, Handler] = {}


class MissingHandlersError(RuntimeError):
    def __init__(self, missing: Iterable[str]) -> None:
        self.missing = sorted(missing)
        super().__init__("no handler registered for operationId(s): " + ", ".join(self.missing))


def operation(operation_id: str) -> Callable[[H], H]:
    """Register an async handler for `operation_id`; the function is returned unchanged."""

    def register(handler: H) -> H:
        existing = _REGISTRY.get(operation_id)
        if existing is not None and existing is not handler:
            raise RuntimeError(
                f"operationId {operation_id!r} is registered twice: "
                f"{existing.__module__}.{existing.__qualname__} and "
                f"{handler.__module__}.{handler.__qualname__}"
            )
        _REGISTRY[operation_id] = handler
        return handler

    return register


def registry() -> Mapping[str, Handler]:
    return dict(_REGISTRY)


def discover_handlers(package: str = "impl.handlers") -> list[str]:
    """Import every module of the handlers package (which registers its operations)."""
    pkg = importlib.import_module(package)
    names: list[str] = []
    for info in pkgutil.iter_modules(pkg.__path__, prefix=f"{package}."):
        importlib.import_module(info.name)
        names.append(info.name)
    return names


def spec_operations(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """operationId → operation object of every operation in the spec."""
    found: dict[str, dict[str, Any]] = {}
    for path_item in (spec.get("paths") or {}).values():
        for method, op in path_item.items():
            if method in HTTP_METHODS and isinstance(op, dict) and op.get("operationId"):
                found[op["operationId"]] = op
    return found


def missing_handlers(spec: Mapping[str, Any]) -> list[str]:
    return sorted(set(spec_operations(spec)) - set(_REGISTRY))


def check_complete(spec: Mapping[str, Any]) -> None:
    missing = missing_handlers(spec)
    if missing:
        raise MissingHandlersError(missing)


def mode_gates(spec: Mapping[str, Any]) -> dict[str, tuple[frozenset[str], str]]:
    """operationId → (modes served, error code) for every operation that declares x-mode-error."""
    gates: dict[str, tuple[frozenset[str], str]] = {}
    for op_id, op in spec_operations(spec).items():
        code = op.get("x-mode-error")
        if code:
            gates[op_id] = (frozenset(op.get("x-app-modes") or ()), str(code))
    return gates


def check_mode(
    operation_id: str | None, token_info: Any, gates: Mapping[str, tuple[frozenset[str], str]]
) -> None:
    """Raise the operation's mode error when the key's app mode does not serve it."""
    if operation_id is None or operation_id not in gates or not isinstance(token_info, Mapping):
        return
    mode = getattr(token_info.get("app"), "mode", None)
    allowed, code = gates[operation_id]
    if isinstance(mode, str) and mode not in allowed:
        raise mode_error(code)


class ModeGateMiddleware:
    """Runs after authentication and before request validation, as Dify checks the app mode
    before it reads the body."""

    def __init__(self, app: ASGIApp, gates: Mapping[str, tuple[frozenset[str], str]]) -> None:
        self.app = app
        self.gates = dict(gates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = scope.get("extensions") or {}
            operation_id = (extensions.get("connexion_routing") or {}).get("operation_id")
            token_info = (extensions.get("connexion_context") or {}).get("token_info")
            check_mode(operation_id, token_info, self.gates)
        await self.app(scope, receive, send)


class RegistryResolver(Resolver):  # type: ignore[misc]
    """Resolve each operation to its registered handler."""

    def __init__(self, handlers: Mapping[str, Handler] | None = None) -> None:
        super().__init__()
        self._handlers = handlers

    def resolve(self, op: Any) -> Resolution:
        operation_id: str = op.operation_id
        handlers = self._handlers if self._handlers is not None else _REGISTRY
        handler = handlers.get(operation_id)
        if handler is None:
            raise MissingHandlersError([operation_id])
        return Resolution(handler, operation_id)


# Parameter names are sanitized (three regular expressions) several times per request: names of
# the spec and of query strings, so a bounded cache serves nearly all of them.
_cached_sanitized = functools.lru_cache(maxsize=1024)(sanitized)


class _CachedSanitizeParameterDecorator(AsyncParameterDecorator):  # type: ignore[misc]
    """Connexion's parameter decorator with its name sanitizer cached (the same function)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not kwargs.get("pythonic_params"):  # Connexion's default sanitizer, `sanitized`
            self.sanitize_fn = _cached_sanitized


class _OnceDecorator(StarletteDecorator):  # type: ignore[misc]
    """Connexion's Starlette decorator builds the parameter and response wrappers of a handler
    (an `inspect.signature` call included) and a URI parser on every request; the wrappers read
    the request and the operation from context variables when called, and the parser only
    depends on the operation, so one set per operation serves every request.  This keeps the
    first one.  On top of that, the handler's keywords come from a `CallPlan` made on the first
    request (no request object, no per-request look-ups of what the operation fixes); requests
    the plan does not cover take Connexion's wrapper."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._decorated: Callable[..., Any] | None = None
        self._uri_parser: Any = None
        self._plan: CallPlan | None = None

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return _CachedSanitizeParameterDecorator

    @property
    def uri_parser(self) -> Any:
        if self._uri_parser is None:
            self._uri_parser = super().uri_parser
        return self._uri_parser

    def decorate(self, function: Callable[..., Any]) -> Callable[..., Any]:
        if self._decorated is None:
            self._decorated = super().decorate(function)
        return self._decorated

    def plan(self, function: Callable[..., Any]) -> CallPlan:
        """The call plan of `function` for the current request's operation (made once)."""
        if self._plan is None:
            parameters = self._parameter_decorator_cls(
                framework=self.framework, pythonic_params=self.pythonic_params
            )
            # The response wrapper Connexion puts around the handler, without the parameter one.
            inner = (
                function if asyncio.iscoroutinefunction(function) else self._sync_async_decorator(function)
            )
            respond = self._response_decorator_cls(framework=self.framework, jsonifier=self.jsonifier)(inner)
            self._plan = CallPlan(
                _operation.get(),
                function,
                sanitize=parameters.sanitize_fn,
                uri_parser=self.uri_parser,
                respond=respond,
            )
        return self._plan

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        connexions = super().__call__(function)

        @functools.wraps(function)
        async def call(*args: Any, **kwargs: Any) -> Any:
            scope = _scope.get(None)
            if scope is not None:
                plan = self.plan(function)
                mimetype = plan.covers(scope)
                if mimetype is not None:
                    return await plan.call(scope, _receive.get(), mimetype)
            return await connexions(*args, **kwargs)

        return call


class OnceDecoratedOperation(AsyncOperation):  # type: ignore[misc]
    """An operation whose handler is wrapped once, on its first request."""

    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        decorator = _OnceDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator(self._fn)


class OnceDecoratedApi(AsyncApi):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> OnceDecoratedOperation:
        return OnceDecoratedOperation.from_operation(  # type: ignore[no-any-return]
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


def use_once_decorated(app: AsyncApp) -> None:
    """Make the APIs added to `app` from now on build `OnceDecoratedOperation`s."""
    app._middleware_app.api_cls = OnceDecoratedApi
