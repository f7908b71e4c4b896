"""impl.handler_call: handlers receive the keywords Connexion's own decorators would pass them.

Two Connexion apps serve the same spec with recording handlers that carry the real handlers'
signatures: one with Connexion's stock operations, one with `use_once_decorated` (the call
plans).  Every request goes to both; the status, the body and the recorded keywords must match.
This runs with Connexion's request validation (what the server does) and without it (so that
requests validation would reject reach the handler call too).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pytest
from connexion import AsyncApp
from connexion import context as connexion_context
from connexion.decorators import StarletteDecorator
from connexion.decorators import parameter as connexion_parameter
from connexion.decorators.main import BaseDecorator
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.context import ContextMiddleware, ContextOperation
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.security import SecurityMiddleware
from starlette.datastructures import UploadFile
from starlette.responses import Response
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from impl import handler_call
from impl.handler_call import CallPlan, request_mimetype
from impl.routing import HTTP_METHODS, RegistryResolver, discover_handlers, registry, use_once_decorated
from impl.spec import load_spec

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
BASE = "/api"
TOKEN_INFO = {"sub": "app-1", "key_id": "k-1", "scope": []}

Recorded = list[tuple[str, Any]]


class ContextSetter:
    """Stands in for the security middleware: a context with what a bearer key would give,
    and a key no handler takes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = scope.setdefault("extensions", {})
            extensions["connexion_context"] = {
                "user": "app-1",
                "token_info": copy.deepcopy(TOKEN_INFO),
                "not_an_argument": 1,
            }
        await self.app(scope, receive, send)


def _stack(validated: bool) -> list[Any]:
    stack: list[Any] = []
    for middleware in ConnexionMiddleware.default_middlewares:
        if not validated and middleware in (SecurityMiddleware, RequestValidationMiddleware):
            continue
        if middleware is ContextMiddleware:
            stack.append(ContextSetter)
        stack.append(middleware)
    return stack


async def _normalized(value: Any) -> Any:
    """Values tagged with their type (so 1, True and "1" differ); uploads by their content."""
    if isinstance(value, UploadFile):
        await value.seek(0)
        content = await value.read()
        await value.close()
        return ("upload", value.filename, value.content_type, content)
    if isinstance(value, Mapping):
        return ("map", {str(k): await _normalized(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return (type(value).__name__, [await _normalized(v) for v in value])
    return (type(value).__name__, value)


def _recorder(name: str, signature_of: Callable[..., Any], log: Recorded) -> Callable[..., Awaitable[Any]]:
    async def record(**kwargs: Any) -> Response:
        log.append((name, await _normalized(kwargs)))
        return Response(b"recorded", media_type="text/plain")

    # Connexion reads the handler's signature through `__wrapped__`.
    record.__wrapped__ = signature_of  # type: ignore[attr-defined]
    return record


def _client(
    spec: dict[str, Any], handlers: Mapping[str, Callable[..., Any]], *, planned: bool, validated: bool
) -> tuple[TestClient, Recorded]:
    log: Recorded = []
    app = AsyncApp(__name__, middlewares=_stack(validated))
    if planned:
        use_once_decorated(app)
    recorders = {name: _recorder(name, handler, log) for name, handler in handlers.items()}
    app.add_api(
        copy.deepcopy(spec), base_path=BASE, resolver=RegistryResolver(recorders), strict_validation=False
    )
    return TestClient(app, raise_server_exceptions=False), log


Request = dict[str, Any]


def _sample(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "integer":
        return "7"
    if kind == "number":
        return "1.5"
    if kind == "boolean":
        return "true"
    if kind == "array":
        return "a,b"
    return "x-1"


def _params(
    spec: Mapping[str, Any], path_item: Mapping[str, Any], op: Mapping[str, Any]
) -> list[dict[str, Any]]:
    found = []
    for param in [*(path_item.get("parameters") or []), *(op.get("parameters") or [])]:
        if "$ref" in param:
            param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        found.append(param)
    return found


MULTIPART_FILE = {"files": {"file": ("a.txt", b"hello", "text/plain")}, "data": {"user": "u-1"}}
BODIES: list[Request] = [
    {},
    {"json": {"user": "u-1", "inputs": {}, "query": "hi", "rating": "like", "name": "n"}},
    {"content": b"null", "headers": {"content-type": "application/json"}},
    {"json": [1, 2]},
    {"content": b"{", "headers": {"content-type": "application/json"}},
    {"content": b"", "headers": {"content-type": "application/json"}},
    {"content": b'{"user": "u"}', "headers": {"content-type": "application/json; charset=utf-8"}},
    {"content": b'{"user": "u"}', "headers": {"content-type": "application/vnd.x+json"}},
    {"content": b"plain words", "headers": {"content-type": "text/plain"}},
    {"content": b"\x00\x01", "headers": {"content-type": "application/octet-stream"}},
    {"content": b"nothing", "headers": {"content-type": "nonsense"}},
    {"content": b"x", "headers": {"content-type": b"\xe9/\xe9"}},
    MULTIPART_FILE,
    {
        "files": [("file", ("a.txt", b"one", "text/plain")), ("file", ("b.txt", b"two", "text/plain"))],
        "data": {"user": "u-2"},
    },
    {"files": {"other": ("a.wav", b"RIFF", "audio/wav")}},
    {"data": {"user": "u-3", "extra": "e"}},
    {"content": b"--b\r\n", "headers": {"content-type": "multipart/form-data"}},  # no boundary
]


def _requests(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Request]]:
    """(operationId, method, request) for every operation of `spec`: query variants without a
    body, then body variants with the plain query."""
    for raw_path, path_item in spec["paths"].items():
        for method, op in path_item.items():
            if method not in HTTP_METHODS:
                continue
            params = _params(spec, path_item, op)
            path = raw_path
            for param in params:
                if param["in"] == "path":
                    path = path.replace("{" + param["name"] + "}", _sample(param.get("schema") or {}))
            query = {p["name"]: _sample(p.get("schema") or {}) for p in params if p["in"] == "query"}
            first = next(iter(query), "user")
            variants: list[dict[str, Any]] = [
                {},
                query,
                {**query, "undeclared": "u", "user": "someone"},
                {first: ""},
                {first: "not-a-number", "limit": "many", "page": "-1"},
                {"as_attachment": "false", "limit": "0"},
            ]
            for variant in variants:
                yield op["operationId"], method, {"url": path, "params": variant}
            yield op["operationId"], method, {"url": path + "?" + f"{first}=a&{first}=b"}
            for body in BODIES:
                yield op["operationId"], method, {"url": path, "params": {"user": "u-9"}, **body}


def _outcome(client: TestClient, log: Recorded, method: str, request: Request) -> tuple[Any, ...]:
    del log[:]
    response = client.request(method.upper(), **{**request, "url": BASE + request["url"]})
    return response.status_code, response.content, list(log)


def _compare(
    spec: dict[str, Any],
    handlers: Mapping[str, Callable[..., Any]],
    requests: list[tuple[str, str, Request]],
    *,
    validated: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, int]:
    """Every request to both apps; returns how many requests each operation's plan served."""
    served: dict[str, int] = {}
    original = CallPlan.call

    async def counting(self: CallPlan, scope: Scope, receive: Receive, mimetype: str) -> Any:
        served[self.operation.operation_id] = served.get(self.operation.operation_id, 0) + 1
        return await original(self, scope, receive, mimetype)

    monkeypatch.setattr(CallPlan, "call", counting)
    stock, stock_log = _client(spec, handlers, planned=False, validated=validated)
    ours, ours_log = _client(spec, handlers, planned=True, validated=validated)
    mismatches = []
    reached = 0
    for operation_id, method, request in requests:
        expected = _outcome(stock, stock_log, method, request)
        got = _outcome(ours, ours_log, method, request)
        reached += bool(expected[2])
        if got != expected:
            mismatches.append((operation_id, method, request, expected, got))
    assert mismatches == []
    assert reached > len(requests) // 3  # most requests reach a handler: the comparison has teeth
    return served


def _spec() -> dict[str, Any]:
    spec = load_spec(SPEC_PATH)
    spec.pop("security", None)
    for path_item in spec["paths"].values():
        for method, op in path_item.items():
            if method in HTTP_METHODS:
                op.pop("security", None)
    return spec


# Connexion parses a form body for its files even when the handler takes none, and closes none
# of them: the uploads no handler saw are left to the garbage collector (in both apps).
UNCLOSED_UPLOADS = "ignore:Exception ignored in.*SpooledTemporaryFile:pytest.PytestUnraisableExceptionWarning"


@pytest.mark.filterwarnings(UNCLOSED_UPLOADS)
@pytest.mark.parametrize("validated", [True, False], ids=["validated", "unvalidated"])
def test_every_operation_of_the_spec_gets_connexions_keywords(
    validated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    discover_handlers()
    spec = _spec()
    handlers = registry()
    requests = list(_requests(spec))
    served = _compare(spec, handlers, requests, validated=validated, monkeypatch=monkeypatch)
    operations = {op_id for op_id, _, _ in requests}
    assert operations <= set(handlers)
    # Without validation every operation's plan served requests (forms and undecodable types
    # went Connexion's way); with it, some operations only take bodies these requests lack.
    assert set(served) == operations if not validated else len(served) > len(operations) // 2
    assert sum(served.values()) < len(requests)


# Parameter shapes the project's spec does not use, and operations the plans leave to Connexion.
EXTRA_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "shapes", "version": "1"},
    "paths": {
        "/items/{item_id}/{ratio}": {
            "parameters": [
                {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                {"name": "ratio", "in": "path", "required": True, "schema": {"type": "number"}},
            ],
            "get": {
                "operationId": "shapesGet",
                "parameters": [
                    {"name": "tags", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {
                        "name": "ids",
                        "in": "query",
                        "style": "pipeDelimited",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
                    },
                    {
                        "name": "filter",
                        "in": "query",
                        "style": "deepObject",
                        "explode": True,
                        "schema": {
                            "type": "object",
                            "properties": {"a": {"type": "string", "default": "z"}, "b": {"type": "string"}},
                        },
                    },
                    {"name": "flag", "in": "query", "schema": {"type": "boolean", "default": True}},
                    {"name": "maybe", "in": "query", "schema": {"type": "string", "nullable": True}},
                    {"name": "class", "in": "query", "schema": {"type": "string"}},
                    {"name": "unused", "in": "query", "schema": {"type": "string", "default": "d"}},
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "post": {
                "operationId": "shapesPost",
                "requestBody": {
                    "x-body-name": "payload",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "nullable": True, "default": {"d": 1}}
                        }
                    },
                },
                "responses": {"200": {"description": "ok"}},
            },
            "put": {
                "operationId": "shapesTwoTypes",
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/plain": {"schema": {"type": "string"}},
                    }
                },
                "responses": {"200": {"description": "ok"}},
            },
            "delete": {"operationId": "shapesKwargs", "responses": {"200": {"description": "ok"}}},
            "patch": {
                "operationId": "shapesContext",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/lists/{numbers}": {
            "get": {
                "operationId": "shapesPathList",
                "parameters": [
                    {
                        "name": "numbers",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "array", "items": {"type": "integer"}},
                    }
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


async def _shapes_get(
    item_id: int,
    ratio: float,
    token_info: Any,
    tags: Any = None,
    ids: Any = None,
    filter: Any = None,  # the spec's name
    flag: Any = None,
    maybe: Any = None,
) -> None: ...


async def _shapes_post(item_id: int, ratio: float, payload: Any = None, user: Any = None) -> None: ...


async def _shapes_two_types(item_id: int, ratio: float, body: Any = None) -> None: ...


async def _shapes_path_list(numbers: Any) -> None: ...


async def _shapes_kwargs(**everything: Any) -> None: ...


async def _shapes_context(item_id: int, ratio: float, context_: Any = None, body: Any = None) -> None: ...


@pytest.mark.filterwarnings(UNCLOSED_UPLOADS)
def test_other_parameter_shapes_get_connexions_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    handlers = {
        "shapesGet": _shapes_get,
        "shapesPost": _shapes_post,
        "shapesTwoTypes": _shapes_two_types,
        "shapesKwargs": _shapes_kwargs,
        "shapesContext": _shapes_context,
        "shapesPathList": _shapes_path_list,
    }
    url = "/items/3/0.5"
    queries: list[Any] = [
        {},
        {"tags": "a,b", "ids": "4|5", "filter[b]": "q", "flag": "false", "maybe": "null", "class": "c"},
        [("tags", "a"), ("tags", "b"), ("ids", "9")],
        {"filter[a]": "y", "unused": "u", "nothing": "n"},
        {"maybe": ""},
    ]
    requests: list[tuple[str, str, Request]] = []
    for method, operation_id in [
        ("get", "shapesGet"),
        ("post", "shapesPost"),
        ("put", "shapesTwoTypes"),
        ("delete", "shapesKwargs"),
        ("patch", "shapesContext"),
    ]:
        requests += [(operation_id, method, {"url": url, "params": q}) for q in queries]
        requests += [(operation_id, method, {"url": url, **body}) for body in BODIES]
        requests.append((operation_id, method, {"url": "/items/-3/7", "params": {"ids": "1|2"}}))
    requests += [("shapesPathList", "get", {"url": "/lists/" + numbers}) for numbers in ("4", "4,5", "x")]
    # `context_` is Connexion's context proxy: compare what it holds, not the proxy object.
    served = _compare(EXTRA_SPEC, handlers, requests, validated=False, monkeypatch=monkeypatch)
    assert "shapesTwoTypes" not in served  # several request content types: Connexion's path
    assert {"shapesGet", "shapesPost", "shapesKwargs", "shapesContext", "shapesPathList"} <= set(served)


def test_request_mimetype_is_connexions() -> None:
    assert request_mimetype([]) == "application/octet-stream"
    assert request_mimetype([(b"content-type", b"Application/JSON; charset=utf-8")]) == "application/json"
    # Starlette's headers match the lowercase name only, as ASGI servers send it.
    assert request_mimetype([(b"Content-Type", b"text/plain")]) == "application/octet-stream"
    assert request_mimetype([(b"content-type", b"text/plain"), (b"content-type", b"x/y")]) == "text/plain"
    for form in (b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded"):
        assert request_mimetype([(b"content-type", form)]) is None
    assert request_mimetype([(b"content-type", b"\xe9/\xe9")]) is None


def test_connexion_helpers_it_relies_on() -> None:
    """Written against Connexion 3.3's parameter decorator: fails when an upgrade moves a helper
    the plans call or changes the steps they reproduce."""
    for name in ("_get_body_argument", "_get_query_defaults", "_get_val_from_param", "_query_args_helper"):
        assert callable(getattr(connexion_parameter, name)), name
    wrapper = inspect.getsource(connexion_parameter.AsyncParameterDecorator.__call__)
    for step in ("_maybe_get_body", "request.files()", "prep_kwargs"):
        assert step in wrapper, step
    kwargs = inspect.getsource(connexion_parameter.prep_kwargs)
    assert "kwargs = {sanitize(k): v for k, v in kwargs.items()}" in kwargs
    assert "for key, value in context.items():" in kwargs
    arguments = inspect.getsource(connexion_parameter.get_arguments)
    order = [
        "_get_path_arguments",
        "_get_query_arguments",
        '"TRACE"',
        "_get_body_argument",
        "_get_file_arguments",
    ]
    assert [arguments.index(step) for step in order] == sorted(arguments.index(step) for step in order)
    assert handler_call.FORM_CONTENT_TYPES == ["application/x-www-form-urlencoded", "multipart/form-data"]
    # impl.routing rebuilds the response wrapper of Connexion's chain (sync/async, parameters,
    # response: the plan stands in for the middle one) and reads the context variables it sets.
    decorate = inspect.getsource(BaseDecorator.decorate)
    order = [
        "self._sync_async_decorator(function)",
        "parameter_decorator(function)",
        "response_decorator(function)",
    ]
    assert [decorate.index(step) for step in order] == sorted(decorate.index(step) for step in order)
    for name in ("_response_decorator_cls", "_sync_async_decorator"):
        assert isinstance(inspect.getattr_static(StarletteDecorator, name), property), name
    sets = inspect.getsource(ContextOperation.__call__)
    for variable in ("_context", "_operation", "_receive", "_scope"):
        assert isinstance(getattr(connexion_context, variable), ContextVar), variable
        assert f"{variable}.set(" in sets, variable
