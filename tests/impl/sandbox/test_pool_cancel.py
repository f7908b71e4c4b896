"""The sandbox pool survives a job cancelled while its worker is being spawned (a stopped run,
or a parallel branch cancelled because its sibling failed): the next job still gets a worker."""

from __future__ import annotations

import asyncio

from impl.sandbox.pool import Pool


def test_a_cancelled_take_leaves_the_spawner_working() -> None:
    async def scenario() -> dict[str, object]:
        pool = Pool(size=0)
        try:
            waiting = asyncio.create_task(pool.take("python3"))
            await asyncio.sleep(0)  # the request is queued; the spawner starts a worker
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            return await asyncio.wait_for(pool.run("python3", "def main():\n    return {'ok': 1}\n", {}), 30)
        finally:
            pool.close()

    assert asyncio.run(scenario()) == {"ok": 1}
