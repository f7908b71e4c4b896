"""Which events a stream of a run carries: the starting request's stream ends at the first pause,
a resume stream replays past pauses that were already answered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from impl.services.workflows.graph_run import LiveRun, RunContext
from impl.tasks import TaskHandle


def _run(names: list[str], *, paused: bool, finished: bool) -> LiveRun:
    ctx = RunContext(
        run_id="r",
        task_id="t",
        app_id="a",
        mode="workflow",
        workflow_id="w",
        end_user_id="u",
        end_user_session="s",
        created_at=datetime.now(UTC),
        inputs={},
    )
    live = LiveRun(ctx=ctx, handle=TaskHandle(task_id="t", owner="u"))
    for name in names:
        live.publish({"event": name})
    live.paused = paused
    if finished:
        live.log.end()
    return live


async def _names(stream: Any) -> list[str]:
    return [event["event"] async for event in stream]


RESUMED = [
    "workflow_started",
    "node_started",
    "human_input_required",
    "workflow_paused",
    "workflow_started",
    "node_finished",
    "workflow_finished",
]


async def test_the_starting_stream_ends_at_its_pause_even_after_the_form_was_answered() -> None:
    live = _run(RESUMED, paused=False, finished=True)
    assert await _names(live.follow(0)) == RESUMED[:4]


async def test_a_resume_stream_replays_past_an_answered_pause() -> None:
    live = _run(RESUMED, paused=False, finished=True)
    assert await _names(live.follow(0, replay=True)) == RESUMED


async def test_a_resume_stream_stops_at_a_pause_that_still_holds() -> None:
    live = _run(RESUMED[:4], paused=True, finished=False)
    assert await _names(live.follow(0, replay=True)) == RESUMED[:4]
