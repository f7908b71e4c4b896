"""The Connexion middleware stack of the app, with the per-request work done once per operation.

Connexion (3.3) rebuilds on every request what only depends on the operation: request validation
builds a URI parser, a parameter validator and a body validator (whose JSON schema validator is
built again at each `validate`) per request, and the Swagger UI middleware runs every request
through its own router (a mount and its routes) before handing it on.  The classes here keep
Connexion's behaviour and build those once:

* `OnceRequestValidationMiddleware`: one parameter validator per operation and one body validator
  per operation and content type (stateless between requests, as Connexion's are), and the mime
  types it accepted remembered per operation;
* `CachedJSONRequestBodyValidator`: the JSON schema validator of a body schema, built once, and
  a compiled check of the schema asked first (`impl.body_check`: it accepts no body Connexion's
  validator rejects; a body it does not accept gets Connexion's validation and error);
* `SwaggerUIPassMiddleware`: requests under the API's base path that cannot reach the Swagger
  UI's routes (`<base>/openapi.*`, `<base>/ui…`) go straight to the next middleware; the others,
  and any request with a `root_path`, still go through Connexion's router.

`middlewares(...)` is Connexion's default stack with these in place and the project's own
middlewares at their positions (passed to `AsyncApp(middlewares=...)`, a public parameter).
They rely on Connexion internals (`RequestValidationOperation`'s attributes, the
`SwaggerUIMiddleware` router); `tests/impl/test_stack.py` pins what they assume.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from connexion import utils
from connexion.datastructures import MediaTypeDict
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from impl.body_check import body_check

# Body validators kept per operation: one per content type seen, at most this many (content types
# come from clients; past the bound a request builds its own, as Connexion does).
MAX_BODY_VALIDATORS = 8
# Content-Type header values split into (mime type, charset), for the most common values.
MAX_CONTENT_TYPES = 64
_SPLIT_CONTENT_TYPES: dict[bytes | None, tuple[str | None, str | None]] = {}


class CachedJSONRequestBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    """Connexion's JSON body validator with its schema validator built once per instance, and a
    compiled check of the schema (`impl.body_check`) asked first: a body it accepts Connexion's
    validator accepts too; any other body goes to Connexion's validator, whose error stands."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._check = body_check(self._schema, self._validator.format_checker)

    @functools.cached_property
    def _validator(self) -> Any:
        return super()._validator

    def _validate(self, body: Any) -> dict[str, Any] | None:
        check = self._check
        if check is not None and body is not None:  # an empty body keeps Connexion's own message
            try:
                check(body)
            except Exception:  # rejected (or the compiled code failed): Connexion's validator answers
                pass
            else:
                return None
        result: dict[str, Any] | None = super()._validate(body)
        return result


def validator_map() -> dict[str, Any]:
    """Connexion's validator map with the cached JSON body validator."""
    body = MediaTypeDict(dict(VALIDATOR_MAP["body"]))
    body["*/*json"] = CachedJSONRequestBodyValidator
    return {"body": body}


class OnceRequestValidationOperation(RequestValidationOperation):  # type: ignore[misc]
    """Validates as `RequestValidationOperation.__call__` does, with the validators built once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        operation = self._operation
        uri_parser = operation._uri_parser_class(operation.parameters, operation.body_definition())
        self._parameter_validator = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        # Without strict validation the parameter validator only checks declared parameters, so
        # for an operation with none (`GET /`) it has nothing to do.
        validator_parameters = self._parameter_validator.parameters
        self._checks_parameters = bool(self.strict_validation or any(validator_parameters.values()))
        self._body_validators: dict[tuple[str, str], Any] = {}
        self._accepted_mime_types: set[str] = set()
        for mime_type in operation.consumes:
            # Built at startup for the declared types (charset utf-8, the default), so a body
            # schema is compiled (`impl.body_check`) before the first request rather than in it.
            self._body_validator(mime_type, "utf-8")

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        key = (mime_type, encoding)
        found = self._body_validators.get(key)
        if found is not None:
            return found
        operation = self._operation
        schema = operation.body_schema(mime_type)
        if not schema:
            return None
        try:
            validator_cls = self._validator_map["body"][mime_type]
        except KeyError:
            return None  # Connexion skips validation of content types it has no validator for
        validator = validator_cls(
            schema=schema,
            required=operation.request_body.get("required", False),
            nullable=_is_nullable(operation.body_definition(mime_type)),
            encoding=encoding,
            strict_validation=self.strict_validation,
            uri_parser=operation.uri_parser_class(operation.parameters, operation.body_definition()),
        )
        if len(self._body_validators) < MAX_BODY_VALIDATORS:
            self._body_validators[key] = validator
        return validator

    def extract_content_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        """As Connexion's: the first Content-Type header's mime type and charset, with the
        operation's first consumed type and utf-8 as defaults (the split cached per value)."""
        content_type: bytes | None = None
        for name, value in headers:
            if name.lower() == b"content-type":
                content_type = value
                break
        split = _SPLIT_CONTENT_TYPES.get(content_type)
        if split is None:
            split = utils.split_content_type(None if content_type is None else content_type.decode("latin-1"))
            if len(_SPLIT_CONTENT_TYPES) < MAX_CONTENT_TYPES:
                _SPLIT_CONTENT_TYPES[content_type] = split
        mime_type, encoding = split
        if mime_type is None:
            consumes = self._operation.consumes
            mime_type = consumes[0] if consumes else "application/octet-stream"
        return mime_type, encoding or "utf-8"

    def validate_mime_type(self, mime_type: str) -> None:
        """As Connexion's, which answers from the mime type and the operation alone (matching it
        against the declared types anew each time); the types it accepted are remembered."""
        if mime_type in self._accepted_mime_types:
            return
        super().validate_mime_type(mime_type)
        if len(self._accepted_mime_types) < MAX_CONTENT_TYPES:
            self._accepted_mime_types.add(mime_type)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._checks_parameters:
            self._parameter_validator.validate(scope)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


def static_routes_first(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """`routes` with those of a fixed path (no parameter) moved to the front, each group in its
    order, when that changes no answer: when no route with parameters that comes before a fixed
    route also matches its path. Starlette's router tries routes in order, so a request for a
    fixed path (`/parameters`, `/chat-messages`: the frequent ones) then stops after a few
    tries instead of after most of the API's routes; a request for any other path matches none
    of the fixed routes wherever they are. Returned unchanged when any route is not a plain
    `Route` or when moving would change a match."""
    plain = [route for route in routes if type(route) is Route]
    if len(plain) != len(routes):
        return list(routes)
    fixed = [route for route in plain if not route.param_convertors]
    for index, route in enumerate(plain):
        if route.param_convertors and any(
            route.path_regex.match(later.path) for later in plain[index + 1 :] if later in fixed
        ):
            return list(routes)
    return [*fixed, *(route for route in plain if route not in fixed)]


class StaticFirstRoutingMiddleware(RoutingMiddleware):  # type: ignore[misc]
    """Connexion's routing middleware with each API's fixed-path routes tried first
    (`static_routes_first`): Starlette matched `/parameters` after 25 other routes' patterns."""

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        for mount in self.router.routes:
            if isinstance(mount, Mount) and isinstance(mount.app, Router):
                mount.app.routes[:] = static_routes_first(mount.app.routes)


def _is_nullable(definition: Any) -> bool:
    return bool(utils.is_nullable(definition))


class OnceRequestValidationAPI(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> OnceRequestValidationOperation:
        return OnceRequestValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class OnceRequestValidationMiddleware(RequestValidationMiddleware):  # type: ignore[misc]
    api_cls = OnceRequestValidationAPI


class SwaggerUIPassMiddleware(SwaggerUIMiddleware):  # type: ignore[misc]
    """Connexion's Swagger UI middleware; requests under `api_prefix` that none of its routes can
    match (none starts with one of `ui_prefixes`) skip its router."""

    def __init__(self, app: ASGIApp, api_prefix: str, ui_prefixes: Sequence[str]) -> None:
        super().__init__(app)
        self.api_prefix = api_prefix
        self.ui_prefixes = tuple(ui_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and not scope.get("root_path")
            and path.startswith(self.api_prefix)
            and not path.startswith(self.ui_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def swagger_prefixes(base_path: str, spec_path: str, ui_path: str) -> tuple[str, tuple[str, ...]]:
    """The API's prefix and the prefixes of the Swagger UI's routes under it: the spec (JSON and
    YAML, `<base>/openapi.json` → `<base>/openapi.`) and the console (`<base>/ui`, `<base>/ui/…`)."""
    stem = spec_path.rsplit(".", 1)[0] + "."
    return base_path + "/", (base_path + stem, base_path + ui_path.rstrip("/"))


Middleware = Any  # a middleware class or a functools.partial of one


def middlewares(
    *,
    before_swagger: Sequence[Middleware],
    swagger: Middleware,
    before_validation: Sequence[Middleware],
    before_context: Sequence[Middleware],
) -> list[Middleware]:
    """Connexion's default stack with the cheaper classes and the project's middlewares placed as
    `add_middleware(position=BEFORE_SWAGGER / BEFORE_VALIDATION / BEFORE_CONTEXT)` places them."""
    stack: list[Middleware] = []
    for middleware in ConnexionMiddleware.default_middlewares:
        if middleware is SwaggerUIMiddleware:
            stack += [*before_swagger, swagger]
        elif middleware is RoutingMiddleware:
            stack.append(StaticFirstRoutingMiddleware)
        elif middleware is RequestValidationMiddleware:
            stack += [*before_validation, OnceRequestValidationMiddleware]
        elif middleware.__name__ == "ContextMiddleware":
            stack += [*before_context, middleware]
        else:
            stack.append(middleware)
    return stack
