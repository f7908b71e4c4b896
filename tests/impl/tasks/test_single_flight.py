"""`SingleFlight`: callers for one key that come while its work runs share that run's outcome."""

from __future__ import annotations

import asyncio

import pytest

from impl.tasks.single_flight import SingleFlight


async def test_callers_share_one_run_its_result_and_its_error() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    runs: list[str] = []
    gate = asyncio.Event()

    async def work() -> int:
        runs.append("run")
        await gate.wait()
        return 7

    callers = [asyncio.ensure_future(flights.run("k", work)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*callers) == [7] * 5 and runs == ["run"]
    assert await flights.run("k", work) == 7 and runs == ["run", "run"]  # over: a new run

    async def fail() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("nope")

    failing = [asyncio.ensure_future(flights.run("k", fail)) for _ in range(3)]
    results = await asyncio.gather(*failing, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results) and len({id(r) for r in results}) == 1


async def test_a_cancelled_waiter_leaves_the_run_and_forget_starts_anew() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    gate = asyncio.Event()
    runs = 0

    async def work() -> str:
        nonlocal runs
        runs += 1
        number = runs
        await gate.wait()
        return f"run {number}"

    leader = asyncio.ensure_future(flights.run("k", work))
    waiter = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    flights.forget("k")
    fresh = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)
    gate.set()
    assert (await leader, await fresh) == ("run 1", "run 2")
