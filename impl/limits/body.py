"""The JSON body policy: what a JSON request body may look like before anything else reads it.

Runs after routing and authentication, before Connexion's request validation, on the operations
whose request body is `application/json`:

* a body larger than `max_json_body_bytes` → 413 `request_entity_too_large`;
* a body without a `Content-Type` → 415 `unsupported_media_type` (as Flask answers Dify's
  `get_json()` on such a body);
* nesting deeper than `max_depth` arrays/objects, a number literal with more than `max_digits`
  digits or one that is not finite, a string holding a lone surrogate (`"\\ud800"`: no database
  driver can store it) → 400 `bad_request`;
* a string value longer than `max_text_chars` characters → 400 `invalid_param`.

The values are declared in the spec's `x-limits.json_body` and set by `MAX_JSON_BODY_BYTES`,
`MAX_JSON_DEPTH`, `MAX_NUMBER_DIGITS` and `MAX_TEXT_CHARS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.errors import ApiError, bad_request, invalid_param, payload_too_large

_SURROGATE_MESSAGE = "The JSON body holds a lone surrogate (an unpaired \\ud800-\\udfff escape)."
MISSING_TYPE_MESSAGE = "Expected a request body of type application/json."
# A `\uD800`–`\uDFFF` escape: only then can a decoded string hold a surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class JsonBodyPolicy:
    max_json_body_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_digits: int = 64
    max_text_chars: int = 1_000_000

    def size_error(self) -> ApiError:
        return payload_too_large(f"The JSON body is larger than the {self.max_json_body_bytes} bytes limit.")

    def check(self, body: bytes) -> None:
        """Raise the policy's ApiError for a body it refuses; malformed JSON is left to Connexion."""
        if len(body) > self.max_json_body_bytes:
            raise self.size_error()
        try:
            document = json.loads(
                body, parse_int=self._int, parse_float=self._float, parse_constant=self._constant
            )
        except RecursionError:
            raise self._too_deep() from None
        except (ValueError, UnicodeDecodeError) as exc:
            if isinstance(exc, ApiError):
                raise
            return  # not JSON: Connexion answers with its own 400
        if body.count(b"[") + body.count(b"{") > self.max_depth:
            self._check_depth(document)
        if len(body) > self.max_text_chars or _SURROGATE_ESCAPE.search(body):
            self._check_strings(document)

    def _too_deep(self) -> ApiError:
        return bad_request(f"The JSON body is nested deeper than {self.max_depth} levels.")

    def _number_error(self, literal: str) -> ApiError:
        return bad_request(
            f"The JSON body holds a number of {len(literal)} characters; "
            f"at most {self.max_digits} are accepted."
        )

    def _int(self, literal: str) -> int:
        if len(literal.lstrip("-")) > self.max_digits:
            raise _Refused(self._number_error(literal))
        return int(literal)

    def _float(self, literal: str) -> float:
        if len(literal) > self.max_digits:
            raise _Refused(self._number_error(literal))
        value = float(literal)
        if not math.isfinite(value):
            raise _Refused(bad_request("The JSON body holds a number out of range."))
        return value

    def _constant(self, name: str) -> float:
        raise _Refused(bad_request(f"The JSON body holds {name}, which JSON does not allow."))

    def _check_depth(self, document: Any) -> None:
        stack: list[tuple[Any, int]] = [(document, 1)]
        while stack:
            value, depth = stack.pop()
            if isinstance(value, dict):
                children: Any = value.values()
            elif isinstance(value, list):
                children = value
            else:
                continue
            if depth > self.max_depth:
                raise self._too_deep()
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))

    def _check_strings(self, document: Any) -> None:
        stack: list[Any] = [document]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.keys())
                stack.extend(value.values())
            elif isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, str):
                if len(value) > self.max_text_chars:
                    raise invalid_param(f"A text value is longer than {self.max_text_chars} characters.")
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise bad_request(
                        "The JSON body holds a lone surrogate (an unpaired \\ud800-\\udfff escape)."
                    ) from None


class _Refused(ApiError, ValueError):
    """An ApiError the json parser's hooks raise; a ValueError so the parser lets it through."""

    def __init__(self, error: ApiError) -> None:
        ApiError.__init__(self, error.code, error.message, error.status, error.headers)


def json_body_operations(operations: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The operationIds whose request body is JSON."""
    found = set()
    for op_id, op in operations.items():
        content = (op.get("requestBody") or {}).get("content") or {}
        if "application/json" in content:
            found.add(op_id)
    return frozenset(found)


def operation_id_of(scope: Scope) -> str | None:
    """The operationId Connexion's routing middleware matched for this request, if any."""
    extensions = scope.get("extensions") or {}
    operation_id = (extensions.get("connexion_routing") or {}).get("operation_id")
    return operation_id if isinstance(operation_id, str) else None


async def buffer_body(receive: Receive, limit: int, too_large: Callable[[], Exception]) -> list[Message]:
    """Read the request's messages up to the end of its body; raise `too_large()` past `limit` bytes."""
    messages: list[Message] = []
    seen = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large()
        if not message.get("more_body", False):
            return messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that hands out the buffered messages first, then the connection's own."""

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


class BodySizeLimitMiddleware:
    """Refuse request bodies above `limit` bytes with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None:
            if declared > self.limit:
                raise self._too_large()
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read the body up to the limit first, then replay it.
        messages = await buffer_body(receive, self.limit, self._too_large)
        await self.app(scope, replaying(messages, receive), send)

    def _too_large(self) -> ApiError:
        return payload_too_large(
            f"Request body is larger than the {self.limit // (1024 * 1024) or 1} MB limit."
        )


class JsonBodyPolicyMiddleware:
    """Applies `JsonBodyPolicy` to the body of every JSON operation, then replays it."""

    def __init__(self, app: ASGIApp, policy: JsonBodyPolicy, operations: frozenset[str]) -> None:
        self.app = app
        self.policy = policy
        self.operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if operation_id_of(scope) not in self.operations:
            await self.app(scope, receive, send)
            return
        content_type: bytes | None = None
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    if int(value) > self.policy.max_json_body_bytes:
                        raise self.policy.size_error()
                except ValueError:
                    pass
            elif name == b"content-type":
                content_type = value
        if content_type is not None and b"json" not in content_type.lower():
            await self.app(scope, receive, send)  # Connexion answers 415 for the wrong type
            return
        messages = await buffer_body(receive, self.policy.max_json_body_bytes, self.policy.size_error)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if body.strip():
            if content_type is None:
                raise ApiError(
                    "unsupported_media_type", "Expected a request body of type application/json.", 415
                )
            self.policy.check(body)
        await self.app(scope, replaying(messages, receive), send)
