"""The per-app limit of active generation requests (Dify's `APP_MAX_ACTIVE_REQUESTS` and the app's
own `max_active_requests`).

A generation request (chat, completion, workflow run) enters the app's counter once it passed
authentication and validation, and leaves it when its response is over: at once for a blocking
answer, when the stream ends or the client goes away for a streaming one.  One request more than
the limit gets `429 too_many_requests` with `Retry-After`, before any work starts.

Two back ends behind `ActiveRequests`: `InProcessActiveRequests` (one worker's own requests) and
`RedisActiveRequests` (`REDIS_URL`: one count per app for all workers, kept like Dify's: a hash
of request ids with their start time, entries older than `MAX_ALIVE_SECONDS` dropped as stale).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from impl.errors import ApiError
from impl.limits.body import operation_id_of

RETRY_AFTER_SECONDS = 1
# A request still counted after this long is assumed lost (its worker died): Dify's 10 minutes.
MAX_ALIVE_SECONDS = 10 * 60
LIMITED_CODE = "too_many_requests"


def limit_error(limit: int) -> ApiError:
    """Dify's answer when the app's limit is reached, with a Retry-After hint."""
    message = (
        "Too many requests. Please try again later. "
        f"The current maximum concurrent requests allowed is {limit}."
    )
    return ApiError(LIMITED_CODE, message, 429, {"Retry-After": str(RETRY_AFTER_SECONDS)})


class ActiveRequests(Protocol):
    """Counts the running generation requests of each app."""

    async def enter(self, app_id: str, request_id: str, limit: int) -> bool:
        """Count `request_id` for `app_id` unless `limit` requests already run; False if refused."""

    async def exit(self, app_id: str, request_id: str) -> None:
        """Stop counting `request_id`."""

    async def count(self, app_id: str) -> int:
        """How many requests of `app_id` are counted now."""

    async def close(self) -> None:
        """Release the back end's resources."""


class InProcessActiveRequests:
    """The counts of this worker's own requests (no cross-worker limit)."""

    def __init__(self) -> None:
        self._active: dict[str, set[str]] = {}

    async def enter(self, app_id: str, request_id: str, limit: int) -> bool:
        running = self._active.setdefault(app_id, set())
        if len(running) >= limit:
            return False
        running.add(request_id)
        return True

    async def exit(self, app_id: str, request_id: str) -> None:
        running = self._active.get(app_id)
        if running is not None:
            running.discard(request_id)
            if not running:
                del self._active[app_id]

    async def count(self, app_id: str) -> int:
        return len(self._active.get(app_id, ()))

    async def close(self) -> None:
        self._active.clear()


# Atomically: drop stale entries when the hash looks full, refuse at the limit, else add.
_ENTER_SCRIPT = """
local key, request_id = KEYS[1], ARGV[1]
local limit, now, max_alive = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('HLEN', key) >= limit then
  local entries = redis.call('HGETALL', key)
  for i = 1, #entries, 2 do
    if now - tonumber(entries[i + 1]) > max_alive then
      redis.call('HDEL', key, entries[i])
    end
  end
  if redis.call('HLEN', key) >= limit then
    return 0
  end
end
redis.call('HSET', key, request_id, ARGV[3])
redis.call('EXPIRE', key, 86400)
return 1
"""


class RedisActiveRequests:
    """One count per app shared by every worker that uses the same Redis.

    Built on the Redis client the task registry already holds when `REDIS_URL` is set (the
    registry owns and closes it), or on its own client from a URL (closed by `close`)."""

    def __init__(self, client_or_url: Any, prefix: str = "dify-service:rate_limit") -> None:
        self._owned = isinstance(client_or_url, str)
        if self._owned:
            import redis.asyncio as redis_asyncio

            self._redis: Any = redis_asyncio.from_url(client_or_url)
        else:
            self._redis = client_or_url
        self._prefix = prefix
        self._enter: Any = self._redis.register_script(_ENTER_SCRIPT)

    def _key(self, app_id: str) -> str:
        return f"{self._prefix}:{app_id}:active_requests"

    async def enter(self, app_id: str, request_id: str, limit: int) -> bool:
        args = [request_id, limit, time.time(), MAX_ALIVE_SECONDS]
        return bool(await self._enter(keys=[self._key(app_id)], args=args))

    async def exit(self, app_id: str, request_id: str) -> None:
        await self._redis.hdel(self._key(app_id), request_id)

    async def count(self, app_id: str) -> int:
        return int(await self._redis.hlen(self._key(app_id)))

    async def close(self) -> None:
        if self._owned:
            await self._redis.aclose()


def new_active_requests(shared_redis: Any = None) -> ActiveRequests:
    """On the shared Redis client (the task registry's, when `REDIS_URL` is set), else in process."""
    return RedisActiveRequests(shared_redis) if shared_redis is not None else InProcessActiveRequests()


def limited_operations(error_codes: Mapping[str, Any]) -> frozenset[str]:
    """The operations the spec lets answer `too_many_requests` (the generation operations)."""
    entry = error_codes.get(LIMITED_CODE) or {}
    return frozenset(str(op) for op in entry.get("operations") or ())


class ActiveRequestsMiddleware:
    """Runs after request validation: counts each generation request for as long as its response
    lasts, or answers 429 when the app's limit is reached."""

    def __init__(
        self, app: ASGIApp, counter: ActiveRequests, default_limit: int, operations: Collection[str]
    ) -> None:
        self.app = app
        self.counter = counter
        self.default_limit = default_limit
        self.operations = frozenset(operations)

    def limit_of(self, token_info: Any) -> tuple[str, int] | None:
        app = token_info.get("app") if isinstance(token_info, Mapping) else None
        app_id = getattr(app, "app_id", None)
        if not isinstance(app_id, str):
            return None
        own = getattr(app, "max_active_requests", None)
        limit = own if isinstance(own, int) else self.default_limit
        return (app_id, limit) if limit > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extensions = scope.get("extensions") or {}
        limited = None
        if operation_id_of(scope) in self.operations:
            limited = self.limit_of((extensions.get("connexion_context") or {}).get("token_info"))
        if limited is None:
            await self.app(scope, receive, send)
            return
        app_id, limit = limited
        request_id = uuid.uuid4().hex
        if not await self.counter.enter(app_id, request_id, limit):
            raise limit_error(limit)
        try:
            await self.app(scope, receive, send)
        finally:
            await self.counter.exit(app_id, request_id)
