"""The Redis backend against a real `redis-server`: claims and stop flags with owner and app,
event logs that followers on another connection replay and follow, and two registries (two
processes' worth) where a stop sent through one reaches a task running under the other."""

from __future__ import annotations

import asyncio
import time
import uuid

from support.redis_server import RedisServer

from impl.tasks import Claim, TaskRegistry
from impl.tasks.redis import RedisBackend


def _backend(redis_server: RedisServer) -> RedisBackend:
    # a prefix per test: the session's Redis is shared by the tests
    return RedisBackend(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}:")


async def test_stop_needs_the_same_owner_and_app(redis_server: RedisServer) -> None:
    backend = _backend(redis_server)
    await backend.open()
    try:
        await backend.claim("t1", Claim("alice", "app-1", "w1"))
        assert not await backend.request_stop("t1", "mallory", "app-1")
        assert not await backend.request_stop("t1", "alice", "app-2")
        assert not await backend.request_stop("unknown", "alice", "app-1")
        assert await backend.stop_flags(["t1", "unknown"]) == set()
        assert await backend.request_stop("t1", "alice", "app-1")
        assert await backend.stop_flags(["t1", "unknown"]) == {"t1"}
        await backend.release("t1")
        assert await backend.stop_flags(["t1"]) == set()
        assert not await backend.request_stop("t1", "alice", "app-1")  # released: nothing to stop
    finally:
        await backend.close()


async def test_followers_replay_and_follow_a_log_to_its_end(redis_server: RedisServer) -> None:
    writer, reader = _backend(redis_server), RedisBackend(redis_server.url)
    reader.prefix = writer.prefix
    await writer.open()
    await reader.open()
    try:
        writer.append("run", {"event": "workflow_started", "n": 0})
        writer.append("run", {"event": "workflow_paused", "n": 1})
        await writer.flush()
        assert await reader.has_log("run") and not await reader.has_log("other")
        seen: list[tuple[int, bool]] = []

        async def follow() -> None:
            async for item in reader.follow("run"):
                seen.append((item.event["n"], item.more))

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        assert seen == [(0, True), (1, False)]  # the pause is the latest event: nothing more waiting
        assert not follower.done()  # the log is live: the follower waits
        writer.append("run", {"event": "text_chunk", "n": 2})
        writer.end_log("run")
        await asyncio.wait_for(follower, 5)
        assert [n for n, _more in seen] == [0, 1, 2]
        await writer.finish_log("late", [{"event": "workflow_finished", "n": 9}])
        assert [item.event["n"] async for item in reader.follow("late")] == [9]
    finally:
        await writer.close()
        await reader.close()


async def test_a_stop_through_one_registry_stops_the_task_of_another(redis_server: RedisServer) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    worker_a = TaskRegistry(RedisBackend(redis_server.url, prefix=prefix))
    worker_b = TaskRegistry(RedisBackend(redis_server.url, prefix=prefix))
    await worker_a.start()
    await worker_b.start()
    try:
        handle = await worker_a.register("task", "alice", "app-1")
        assert not await worker_b.stop("task", "mallory", "app-1")
        assert not await worker_b.stop("task", "alice", "app-2")
        await asyncio.sleep(0.5)
        assert not handle.stopped
        sent = time.monotonic()
        assert await worker_b.stop("task", "alice", "app-1")
        await asyncio.wait_for(handle.stop_event.wait(), 5)
        assert time.monotonic() - sent < 1.0
        worker_a.unregister("task")
    finally:
        await worker_a.shutdown()
        await worker_b.shutdown()
