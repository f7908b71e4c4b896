from __future__ import annotations

import asyncio

from impl.tasks import STOP_REASON_SHUTDOWN, STOP_REASON_USER, TaskRegistry


async def test_stop_only_for_owner_and_idempotent() -> None:
    reg = TaskRegistry()
    handle = await reg.register("t1", "alice")
    await reg.stop("t1", "mallory")
    await reg.stop("unknown", "alice")
    assert not handle.stopped and not await reg.is_stopped("t1")
    await reg.stop("t1", "alice")
    await reg.stop("t1", "alice")
    assert handle.stopped and handle.stop_reason == STOP_REASON_USER and await reg.is_stopped("t1")
    reg.unregister("t1")
    reg.unregister("t1")
    assert reg.active() == [] and handle.done_event.is_set()


async def test_shutdown_stops_running_tasks_and_waits_for_them() -> None:
    reg = TaskRegistry()
    finished: list[str] = []

    async def worker(task_id: str) -> None:
        handle = reg.get(task_id)
        assert handle is not None
        await handle.stop_event.wait()
        await asyncio.sleep(0.05)  # persist the partial answer
        finished.append(task_id)
        reg.unregister(task_id)

    for name in ("a", "b"):
        (await reg.register(name, "owner")).runner = asyncio.create_task(worker(name))
    await asyncio.wait_for(reg.shutdown(timeout=5), 5)
    assert sorted(finished) == ["a", "b"]
    late = await reg.register("c", "owner")
    assert late.stopped and late.stop_reason == STOP_REASON_SHUTDOWN


async def test_shutdown_cancels_tasks_that_do_not_finish() -> None:
    reg = TaskRegistry()

    async def stubborn() -> None:
        await asyncio.sleep(60)

    handle = await reg.register("s", "owner")
    handle.runner = asyncio.create_task(stubborn())
    await asyncio.wait_for(reg.shutdown(timeout=0.1), 5)
    assert handle.runner.cancelled()
