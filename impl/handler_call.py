"""The keyword arguments of a handler call, planned once per operation.

Connexion's Starlette decorator (3.3) works out on every request what a handler receives: it
builds a request object, asks the operation for its body name, its path and query parameter
definitions and its query defaults (deep-copied), parses the form for files even when the body
is not a form, and filters the Connexion context by the handler's signature.  Only the request's
own values change between requests, so `CallPlan` settles the rest when the operation serves its
first request and, per request, reads just what can reach the handler: the path parameters, the
query string (when there is one), the body (when the handler takes it) and the context.  The
values go through Connexion's own helpers (value typing, query defaults, body defaults and
nullability), in Connexion's order, so the handler receives the keywords Connexion would pass.

What the plan does not cover takes Connexion's code path unchanged: per request, a form or
multipart body (files and form fields), a Content-Type whose mime type Connexion could not
decode, a call outside Connexion's context; per operation, anything but an OpenAPI 3 operation,
TRACE, several request content types (Connexion logs a warning on each request there), and
names Connexion's sanitizer would change when applied twice.
`tests/impl/test_handler_call.py` compares the keywords with Connexion's for every operation of
the spec and pins the Connexion helpers used here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from copy import deepcopy
from typing import Any

from connexion.context import _context, context
from connexion.decorators.parameter import (
    CONTEXT_NAME,
    _get_body_argument,
    _get_query_defaults,
    _get_val_from_param,
    _query_args_helper,
    unwrap_decorators,
)
from connexion.http_facts import FORM_CONTENT_TYPES
from connexion.lifecycle import ConnexionRequest
from connexion.operations import OpenAPIOperation
from connexion.utils import deep_merge, inspect_function_arguments
from python_multipart.multipart import parse_options_header
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import Receive, Scope

Sanitize = Callable[[str], str]

# Connexion's request falls back to this Content-Type when the request has none.
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Content-Type values mapped to the mime type Connexion's request reports (None: Connexion's
# path), for the most common values; past the bound each request works its own out.
MAX_MIMETYPES = 64
_MIMETYPES: dict[bytes, str | None] = {}
# Default values a plan may hand to every request as they are (nothing a handler can mutate).
_IMMUTABLE = (str, int, float, bool, type(None))


def _mimetype_of(value: bytes) -> str | None:
    try:
        mime, _ = parse_options_header(value.decode("latin-1"))
        mimetype = str(mime.decode())
    except Exception:  # Connexion's request raises here; its own path raises it again
        return None
    return None if mimetype in FORM_CONTENT_TYPES else mimetype


_DEFAULT_MIMETYPE = _mimetype_of(DEFAULT_CONTENT_TYPE.encode())


def request_mimetype(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The mime type Connexion's request reports for these ASGI headers, or None when the body
    is a form (Connexion parses it for files) or the type cannot be had.  Like Starlette's
    `Headers`, the first header named exactly `content-type` counts."""
    value: bytes | None = None
    for name, header in headers:
        if name == b"content-type":
            value = header
            break
    if value is None:
        return _DEFAULT_MIMETYPE
    try:
        return _MIMETYPES[value]
    except KeyError:
        pass
    mimetype = _mimetype_of(value)
    if len(_MIMETYPES) < MAX_MIMETYPES:
        _MIMETYPES[value] = mimetype
    return mimetype


def _plannable(operation: Any, sanitize: Sanitize) -> bool:
    """Whether a plan can serve the operation (else Connexion's path serves all its requests)."""
    if not isinstance(operation, OpenAPIOperation):
        return False
    if type(operation).body_name is not OpenAPIOperation.body_name:  # one name for any content type
        return False
    if str(operation.method).upper() == "TRACE" or len(operation.consumes) > 1:
        return False
    # Connexion sanitizes the keywords it built once more; the plan's keywords must not change.
    names = [p["name"] for p in operation.parameters if p["in"] == "query"]
    names.append(operation.body_name(None))
    return all(sanitize(sanitize(name)) == sanitize(name) for name in names)


class CallPlan:
    """What requests to one operation can pass its handler, worked out once.

    A request the plan does not cover (`covers` says None) takes Connexion's path."""

    def __init__(
        self,
        operation: Any,
        function: Callable[..., Any],
        *,
        sanitize: Sanitize,
        uri_parser: Any,
        respond: Callable[..., Awaitable[Any]],
    ) -> None:
        self.operation = operation
        self.sanitize = sanitize
        self.uri_parser = uri_parser
        self.respond = respond
        arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(function))
        self.arguments: list[str] = arguments
        self.has_kwargs: bool = has_kwargs
        self.argument_names = frozenset(arguments)
        self.takes_context = CONTEXT_NAME in self.argument_names

        self.planned = _plannable(operation, sanitize)
        parameters: list[dict[str, Any]] = list(operation.parameters) if self.planned else []
        # path parameter name → (keyword, definition); Connexion sanitizes a path name twice
        self.path: dict[str, tuple[str, dict[str, Any]]] = {
            p["name"]: (sanitize(sanitize(p["name"])), p) for p in parameters if p["in"] == "path"
        }
        self.query_definitions = {p["name"]: p for p in parameters if p["in"] == "query"}
        self.query_defaults = _get_query_defaults(self.query_definitions)
        self.reads_body = False
        self.body_argument = False
        # The query arguments of a request without a query string, when they can be shared.
        self.default_arguments: dict[str, Any] | None = None
        if not self.planned:
            return
        self.reads_body = has_kwargs or sanitize(operation.body_name(None)) in self.argument_names
        self.body_argument = bool(arguments or has_kwargs) and bool(operation.is_request_body_defined)
        defaults = self._query_arguments(deepcopy(self.query_defaults))
        if all(type(value) in _IMMUTABLE for value in defaults.values()):
            self.default_arguments = defaults

    def _query_arguments(self, merged: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = _query_args_helper(
            self.query_definitions, merged, self.arguments, self.has_kwargs, self.sanitize
        )
        return found

    def covers(self, scope: Scope) -> str | None:
        """The request's mime type when the plan serves this request, else None (then Connexion's
        path serves it, before anything of the request was read)."""
        if not self.planned:
            return None
        return request_mimetype(scope["headers"])

    async def call(self, scope: Scope, receive: Receive, mimetype: str) -> Any:
        """Call the handler as Connexion's decorators would and return their response."""
        return await self.respond(**await self.kwargs(scope, receive, mimetype))

    async def kwargs(self, scope: Scope, receive: Receive, mimetype: str) -> dict[str, Any]:
        """The keywords Connexion's parameter decorator builds, in its order: the body is read
        first, then path, query, body argument, then the context."""
        body: Any = None
        if self.reads_body:
            # (not `ConnexionRequest(scope, receive)`: its constructor probes for an attribute
            # through a failing lookup, a raised exception per request)
            request = Request(scope, receive)
            body = ConnexionRequest.from_starlette_request(request, uri_parser=self.uri_parser).get_body()
            while asyncio.iscoroutine(body):
                body = await body

        found: dict[str, Any] = {}
        path_params = scope.get("path_params")
        if path_params:
            for name, value in self.uri_parser.resolve_path(path_params).items():
                known = self.path.get(name)
                if known is None:  # a path value the spec does not define: passed as it came
                    found[self.sanitize(self.sanitize(name))] = value
                else:
                    found[known[0]] = _get_val_from_param(value, known[1])

        query_string = scope["query_string"]
        if query_string:
            args = QueryParams(query_string)
            query = self.uri_parser.resolve_query({key: args.getlist(key) for key in args})
            found.update(self._query_arguments(deep_merge(deepcopy(self.query_defaults), query)))
        elif self.default_arguments is not None:
            found.update(self.default_arguments)
        else:
            found.update(self._query_arguments(deepcopy(self.query_defaults)))

        if self.body_argument:
            found.update(
                _get_body_argument(
                    body,
                    operation=self.operation,
                    arguments=self.arguments,
                    has_kwargs=self.has_kwargs,
                    sanitize=self.sanitize,
                    content_type=mimetype,
                )
            )

        values: Mapping[str, Any] = _context.get()
        for key, value in values.items():
            if self.has_kwargs or key in self.argument_names:
                found[key] = value
        if self.takes_context:
            found[CONTEXT_NAME] = context
        return found
