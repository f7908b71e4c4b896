"""The `Backend` on Redis, for several workers and hosts (`REDIS_URL`).

Keys (all under the prefix, `dify-service:` by default):

| key | type | content |
| --- | --- | --- |
| `task:{task_id}` | string, TTL `CLAIM_TTL` | JSON `{owner, app_id, worker}`: who may stop the task |
| `stop:{task_id}` | string, TTL `STOP_TTL` | `1` once a stop was accepted |
| `log:{run_id}` | stream, TTL `LOG_TTL` after its end | one entry per event (`e` = JSON); `end` closes it |

Stop checks the claim (same end user, same app) before raising the flag; the worker running the
task polls the flags of its tasks. Events are written in order by one background writer per
process; followers read the stream with blocking `XREAD` from its first entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from impl.tasks.backend import Claim, LogItem

log = logging.getLogger(__name__)

CLAIM_TTL = 1800  # seconds; refreshed while the task runs
STOP_TTL = 600
LIVE_LOG_TTL = 86400  # a live log whose writer vanished without an end
LOG_TTL = 3600  # kept this long after the run ended, for late followers
READ_BLOCK_MS = 2000
READ_COUNT = 200
_END = object()


class RedisBackend:
    shared = True

    def __init__(self, url: str, prefix: str = "dify-service:") -> None:
        self.url = url
        self.prefix = prefix
        # One client (and connection pool) per process; other shared state (the concurrency
        # counters of the load limits) can use it too.
        self.client: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}{kind}:{ident}"

    async def open(self) -> None:
        try:
            await self.client.ping()
        except Exception as exc:
            where = self.url.rsplit("@", 1)[-1]  # never log a password
            raise RuntimeError(f"cannot reach Redis at {where} (REDIS_URL): {exc}") from exc
        self._writer = asyncio.create_task(self._write_loop())

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 5)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(BaseException):
                await self._writer
        await self.client.aclose()

    # ---- claims and stop flags ---------------------------------------------------------------

    async def claim(self, task_id: str, claim: Claim) -> None:
        value = json.dumps({"owner": claim.owner, "app_id": claim.app_id, "worker": claim.worker})
        await self.client.set(self._key("task", task_id), value, ex=CLAIM_TTL)

    async def refresh(self, task_ids: list[str]) -> None:
        if not task_ids:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.expire(self._key("task", task_id), CLAIM_TTL)
            await pipe.execute()

    async def release(self, task_id: str) -> None:
        await self.client.delete(self._key("task", task_id), self._key("stop", task_id))

    async def request_stop(self, task_id: str, owner: str, app_id: str) -> bool:
        raw = await self.client.get(self._key("task", task_id))
        if raw is None:
            return False
        try:
            data = json.loads(raw)
        except ValueError:
            return False
        if data.get("owner") != owner or data.get("app_id") != app_id:
            return False
        await self.client.set(self._key("stop", task_id), "1", ex=STOP_TTL)
        return True

    async def stop_flags(self, task_ids: list[str]) -> set[str]:
        if not task_ids:
            return set()
        values = await self.client.mget([self._key("stop", t) for t in task_ids])
        return {t for t, v in zip(task_ids, values, strict=True) if v}

    # ---- event logs --------------------------------------------------------------------------

    def append(self, run_id: str, event: dict[str, Any]) -> None:
        self._enqueue(run_id, event)

    def end_log(self, run_id: str) -> None:
        self._enqueue(run_id, _END)

    def _enqueue(self, run_id: str, item: Any) -> None:
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait((run_id, item))

    async def flush(self) -> None:
        await self._idle.wait()

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("could not write %d run event(s) to Redis", len(batch))
            finally:
                self._pending -= len(batch)
                if self._pending == 0:
                    self._idle.set()

    async def _write(self, batch: list[tuple[str, Any]]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for run_id, item in batch:
                key = self._key("log", run_id)
                if item is _END:
                    pipe.xadd(key, {"end": "1"})
                    pipe.expire(key, LOG_TTL)
                else:
                    pipe.xadd(key, {"e": json.dumps(item, ensure_ascii=False, default=str)})
                    pipe.expire(key, LIVE_LOG_TTL)
            await pipe.execute()

    async def finish_log(self, run_id: str, events: list[dict[str, Any]]) -> None:
        key = self._key("log", run_id)
        async with self.client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(key, {"e": json.dumps(event, ensure_ascii=False, default=str)})
            pipe.xadd(key, {"end": "1"})
            pipe.expire(key, LOG_TTL)
            await pipe.execute()

    async def has_log(self, run_id: str) -> bool:
        return bool(await self.client.exists(self._key("log", run_id)))

    async def follow(self, run_id: str) -> AsyncIterator[LogItem]:
        key = self._key("log", run_id)
        last = "0"
        while True:
            reply: Any = await self.client.xread({key: last}, count=READ_COUNT, block=READ_BLOCK_MS)
            if not reply:
                if not await self.client.exists(key):
                    return  # expired or never written: nothing more will come
                continue
            entries = reply[key] if isinstance(reply, dict) else reply[0][1]  # RESP3 or RESP2
            for i, (entry_id, fields) in enumerate(entries):
                last = entry_id
                if "end" in fields:
                    return
                more = i < len(entries) - 1 or len(entries) == READ_COUNT
                yield LogItem(json.loads(fields["e"]), more)
