"""impl.stack: the Connexion internals it relies on (Connexion 3.3), and the behaviour it keeps."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from typing import Any

import httpx
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import BaseParameterDecorator, sanitized
from connexion.exceptions import UnsupportedMediaTypeProblem
from connexion.json_schema import Draft4RequestValidator, allow_nullable
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware, RequestValidationOperation
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.security import SECURITY_HANDLERS, AbstractSecurityHandler, BearerSecurityHandler
from connexion.spec import Specification
from connexion.validators import AbstractRequestBodyValidator, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send
from support.server import LiveServer

from impl import auth
from impl.auth import inject_bearer_func
from impl.config import Settings
from impl.routing import RegistryResolver, _cached_sanitized, discover_handlers
from impl.spec import load_spec
from impl.stack import (
    CachedJSONRequestBodyValidator,
    OnceRequestValidationMiddleware,
    OnceRequestValidationOperation,
    StaticFirstRoutingMiddleware,
    SwaggerUIPassMiddleware,
    middlewares,
    static_routes_first,
    swagger_prefixes,
)

TIMEOUT = 10.0
CHAT = {"query": "Hello", "inputs": {"name": "x"}, "user": "u", "response_mode": "blocking"}


def test_connexion_internals_it_relies_on() -> None:
    """Written against Connexion 3.3: fails loudly when an upgrade moves what `impl.stack` uses."""
    assert version("connexion").startswith("3."), version("connexion")
    assert {SwaggerUIMiddleware, RequestValidationMiddleware, ContextMiddleware} <= set(
        ConnexionMiddleware.default_middlewares
    )
    # The request validation operation's own steps, which OnceRequestValidationOperation reuses.
    for name in ("extract_content_type", "validate_mime_type", "security_query_params"):
        assert hasattr(RequestValidationOperation, name), name
    source = inspect.getsource(RequestValidationOperation.__call__)
    for step in ("parameter_validator.validate(scope)", "validate_mime_type", "body_schema(mime_type)"):
        assert step in source, step
    assert isinstance(inspect.getattr_static(JSONRequestBodyValidator, "_validator"), property)
    # impl.body_check reads schemas as Connexion's request validator does: Draft 4 with only `type`
    # and `enum` extended (for `nullable` / `x-nullable: true`), Draft 4's format checker, the
    # parsed body handed to `_validate`, which answers by raising.
    changed = {
        name
        for name, rule in Draft4RequestValidator.VALIDATORS.items()
        if Draft4Validator.VALIDATORS.get(name) is not rule
    }
    assert changed == {"type", "enum"}
    assert 'schema.get("x-nullable") is True or schema.get("nullable")' in inspect.getsource(allow_nullable)
    assert "format_checker=Draft4Validator.FORMAT_CHECKER" in inspect.getsource(
        inspect.getattr_static(JSONRequestBodyValidator, "_validator").fget
    )
    assert "self._validate(body)" in inspect.getsource(AbstractRequestBodyValidator.wrap_receive)
    # OnceRequestValidationOperation skips the parameter validator of an operation declaring no
    # parameter when validation is not strict: all it checks then are the declared parameters.
    checks = inspect.getsource(ParameterValidator.validate_request)
    assert checks.lstrip().startswith("def validate_request") and "if self.strict_validation:" in checks
    assert checks.count("for param in self.parameters.get(") == 4 and "self.parameters[" not in checks
    assert 'self.parameters[p["in"]].append(p)' in inspect.getsource(ParameterValidator.__init__)
    assert not JSONRequestBodyValidator.MUTABLE_VALIDATION
    assert "_original_scope.set" in inspect.getsource(SwaggerUIMiddleware.__call__)
    # impl.routing's once-per-operation decorator: the URI parser property it caches, the
    # parameter decorator class it swaps, the sanitizer attribute it replaces.
    assert isinstance(inspect.getattr_static(StarletteDecorator, "uri_parser"), property)
    assert isinstance(inspect.getattr_static(StarletteDecorator, "_parameter_decorator_cls"), property)
    assert "self.sanitize_fn = pythonic if pythonic_params else sanitized" in inspect.getsource(
        BaseParameterDecorator.__init__
    )


def test_the_stack_keeps_connexions_order() -> None:
    stack = middlewares(before_swagger=["A"], swagger="S", before_validation=["B"], before_context=["C"])
    names = [getattr(m, "__name__", m) for m in stack]
    assert names == [
        "ServerErrorMiddleware",
        "ExceptionMiddleware",
        "A",
        "S",
        StaticFirstRoutingMiddleware.__name__,
        "SecurityMiddleware",
        "B",
        OnceRequestValidationMiddleware.__name__,
        "ResponseValidationMiddleware",
        "LifespanMiddleware",
        "C",
        "ContextMiddleware",
    ]
    assert issubclass(SwaggerUIPassMiddleware, SwaggerUIMiddleware)
    assert issubclass(StaticFirstRoutingMiddleware, RoutingMiddleware)


def test_swagger_prefixes() -> None:
    assert swagger_prefixes("/v1", "/openapi.json", "/ui") == ("/v1/", ("/v1/openapi.", "/v1/ui"))


def test_json_schema_validator_is_built_once() -> None:
    validator = CachedJSONRequestBodyValidator(
        schema={"type": "object"}, encoding="utf-8", strict_validation=False
    )
    assert validator._validator is validator._validator


def test_cached_sanitizer_is_connexions() -> None:
    for name in ("user", "conversation_id", "last_id", "a[b]", "1x-y", ""):
        assert _cached_sanitized(name) == sanitized(name)


def test_bearer_info_signature_is_precomputed() -> None:
    assert "token" in inspect.signature(auth.bearer_info).parameters


def test_bearer_handler_answers_as_connexions_once_per_function() -> None:
    """`auth.BearerKeyHandler` replaces Connexion's bearer handler and keeps its answers to
    "does the key function take this keyword?", asked per request by `_generic_check`."""
    assert SECURITY_HANDLERS["bearer"] is BearerSecurityHandler
    assert issubclass(auth.BearerKeyHandler, BearerSecurityHandler)
    assert {"bearer": auth.BearerKeyHandler} == auth.SECURITY_MAP
    assert "self._accepts_kwarg(func, self.required_scopes_kw)" in inspect.getsource(
        AbstractSecurityHandler._generic_check
    )

    def with_request(token: str, request: object) -> None: ...

    for func in (auth.bearer_info, with_request):
        for keyword in ("required_scopes", "request", "token"):
            expected = AbstractSecurityHandler._accepts_kwarg(func, keyword)
            assert auth.BearerKeyHandler._accepts_kwarg(func, keyword) is expected, (func, keyword)


def test_swagger_routes_and_redirects_still_answer(live_server: LiveServer) -> None:
    base = live_server.base_url
    assert httpx.get(base + "/openapi.yaml", timeout=TIMEOUT).status_code == 200
    ui = httpx.get(base + "/ui", timeout=TIMEOUT)
    assert ui.status_code == 307 and ui.headers["location"].endswith("/v1/ui/")
    bare = httpx.get(base.removesuffix("/v1") + "/v1", timeout=TIMEOUT)
    assert bare.status_code == 307 and bare.headers["location"].endswith("/v1/")


def test_validation_answers_stay_the_same_across_requests(live_server: LiveServer) -> None:
    """The validators built once answer every request as a fresh one would."""
    headers = {"Authorization": f"Bearer {live_server.keys['chat']}"}
    url = live_server.base_url + "/chat-messages"
    for _ in range(3):
        bad = httpx.post(url, json={"inputs": {}, "user": "u"}, headers=headers, timeout=TIMEOUT)
        assert bad.status_code == 400, bad.text
        assert bad.json() == {
            "code": "invalid_param",
            "message": "'query' is a required property",
            "status": 400,
        }
        # The compiled check rejects these; Connexion's validator gives the answer and its text.
        typo = httpx.post(url, json={**CHAT, "response_mode": "sideways"}, headers=headers, timeout=TIMEOUT)
        assert typo.json() == {
            "code": "invalid_param",
            "message": "'sideways' is not one of ['streaming', 'blocking', None] - 'response_mode'",
            "status": 400,
        }
        wrong = httpx.post(
            url, json={**CHAT, "inputs": {"name": 1}, "files": "x"}, headers=headers, timeout=TIMEOUT
        )
        assert wrong.json() == {
            "code": "invalid_param",
            "message": "'x' is not of type 'array' - 'files'",
            "status": 400,
        }
        typed = httpx.get(live_server.base_url + "/messages?limit=x", headers=headers, timeout=TIMEOUT)
        assert typed.status_code == 400, typed.text


def test_content_type_split_matches_connexions() -> None:
    class Operation:
        consumes = ["application/json"]

    class Holder:
        _operation = Operation()

    cases: list[list[tuple[bytes, bytes]]] = [
        [],
        [(b"host", b"x")],
        [(b"content-type", b"application/json")],
        [(b"Content-Type", b"text/plain; charset=latin-1")],
        [(b"content-type", b"multipart/form-data; boundary=abc"), (b"content-type", b"text/plain")],
        [(b"content-type", b"application/json;charset=UTF-16")],
        [(b"content-type", b"")],
        [(b"content-type", b"\xe9/\xe9")],
    ]
    for headers in cases:
        for _ in range(2):  # the second time from the cache
            ours = OnceRequestValidationOperation.extract_content_type(Holder(), headers)
            assert ours == RequestValidationOperation.extract_content_type(Holder(), headers), headers
    Operation.consumes = []
    assert OnceRequestValidationOperation.extract_content_type(Holder(), []) == (
        "application/octet-stream",
        "utf-8",
    )


def test_mime_type_answers_match_connexions() -> None:
    """The remembered accepted types answer as Connexion's check does, the first time and after."""

    class Operation:
        consumes = ["application/json", "text/*"]

    class Once(OnceRequestValidationOperation):
        def __init__(self) -> None:  # only what validate_mime_type reads
            self._operation = Operation()
            self._accepted_mime_types: set[str] = set()

    class Theirs(RequestValidationOperation):
        def __init__(self) -> None:
            self._operation = Operation()

    ours, theirs = Once(), Theirs()
    for mime_type in [
        "application/json",
        "APPLICATION/JSON",
        "text/plain",
        "application/xml",
        "image/png",
        "",
    ]:
        for _ in range(2):
            answers = []
            for operation in (ours, theirs):
                try:
                    operation.validate_mime_type(mime_type)
                except UnsupportedMediaTypeProblem as exc:
                    answers.append(exc.detail)
                else:
                    answers.append(None)
            assert answers[0] == answers[1], mime_type
    assert ours._accepted_mime_types == {"application/json", "APPLICATION/JSON", "text/plain"}


def test_static_routes_first_moves_fixed_routes_only_where_no_answer_changes() -> None:
    async def endpoint(_scope: Scope, _receive: Receive, _send: Send) -> None: ...

    item, fixed, mine = Route("/a/{x}", endpoint), Route("/b", endpoint), Route("/a/mine", endpoint)
    assert static_routes_first([item, fixed]) == [fixed, item]
    assert static_routes_first([item, fixed, mine]) == [item, fixed, mine]  # /a/{x} answers /a/mine
    assert static_routes_first([mine, item, fixed]) == [mine, fixed, item]
    mount = Mount("/m", app=endpoint)
    assert static_routes_first([item, mount, fixed]) == [item, mount, fixed]


async def test_the_api_routes_match_as_in_connexions_order() -> None:
    """Every path of the spec (with sample parameter values), under every method, and paths of
    no operation: the same operation, path parameters and status as Connexion's own order."""
    spec = Specification.load(inject_bearer_func(load_spec(Settings().spec_path)))
    discover_handlers()

    def routed(cls: type[RoutingMiddleware]) -> tuple[RoutingMiddleware, list[Any]]:
        found: list[Any] = []

        async def record(scope: Scope, _receive: Receive, _send: Send) -> None:
            routing = (scope.get("extensions") or {}).get("connexion_routing") or {}
            found.append((routing.get("operation_id"), scope.get("path_params")))

        middleware = cls(record)
        middleware.add_api(spec, base_path="/v1", resolver=RegistryResolver())
        return middleware, found

    stock, stock_found = routed(RoutingMiddleware)
    ours, ours_found = routed(StaticFirstRoutingMiddleware)
    inner = [m.app for m in ours.router.routes if isinstance(m, Mount)][0]
    assert inner.routes[0].path == "/" and len(inner.routes) >= 30
    paths = ["/v1" + re.sub(r"\{[^}]+\}", "x1", p) for p in spec.raw["paths"]]
    paths += ["/v1/nothing", "/v1/messages/x1/nothing", "/v1", "/v2/parameters", "/v1/parameters/"]
    for path in paths:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            answers = []
            for middleware, found in ((stock, stock_found), (ours, ours_found)):
                found.clear()
                sent: list[Any] = []

                async def send(message: Any, into: list[Any] = sent) -> None:
                    into.append(message.get("status"))

                async def receive() -> Any:
                    return {"type": "http.request", "body": b""}

                scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
                         "query_string": b""}  # fmt: skip
                try:
                    await middleware(scope, receive, send)
                except HTTPException as exc:
                    sent.append(exc.status_code)
                answers.append((list(found), sent))
            assert answers[0] == answers[1], (method, path)
