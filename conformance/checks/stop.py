"""Stop judged by its outcome, and incremental delivery, both measured on one long generation.

The run first streams a long answer without stopping it (the baseline), then sends the same request and
stops it as soon as the answer starts. A stop has worked when the stream ends promptly with its terminal
event, the answer is a strict prefix of the baseline (or, for a non-deterministic model, at least shorter),
a workflow ends `stopped`, and what the server stored equals what it streamed. A generation that ends
before the stop lands is reported INCONCLUSIVE with the numbers, never as a pass.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from conformance.capabilities import CHAT_MODES, GENERATION_OPS
from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import Streams, generation_body, generation_op, generation_path, stop_op
from conformance.registry import register
from conformance.sse import StreamCapture

if TYPE_CHECKING:
    from conformance.context import Context

CONTENT = ("message", "agent_message", "text_chunk")
# Below this, a generation is too short to interrupt or to tell streamed from buffered delivery.
MIN_SPAN = 0.05
# A baseline that streams at least this long (or this many content events) is long enough to stop.
LONG_SPAN = 0.3
LONG_EVENTS = 200
FILLER_WORDS = 4000
FILLER = " ".join(f"lamp{i}" for i in range(FILLER_WORDS))
# Seconds the longer retry may be expected to stream (at the baseline's pace) before it is worth trying.
ESCALATION_BUDGET = 10.0


@dataclasses.dataclass
class Baseline:
    query: str
    capture: StreamCapture
    answer: str
    content_times: list[float]
    terminal_at: float | None
    status: str | None  # workflow_finished status, if any

    @property
    def span(self) -> float:
        if not self.content_times or self.terminal_at is None:
            return 0.0
        return self.terminal_at - self.content_times[0]

    @property
    def long_enough(self) -> bool:
        return self.span >= LONG_SPAN or len(self.content_times) >= LONG_EVENTS

    @property
    def pace(self) -> float:
        """Seconds between content events."""
        return self.span / max(1, len(self.content_times) - 1)

    def describe(self) -> str:
        first = f"{self.content_times[0]:.2f}s" if self.content_times else "never"
        end = f"{self.terminal_at:.2f}s" if self.terminal_at is not None else "never"
        return f"{len(self.content_times)} content events, first at {first}, terminal at {end}"


def _measure(ctx: Context, mode: str, query: str) -> Baseline:
    op_id = generation_op(mode)
    body = generation_body(ctx, mode, ctx.user("long"), streaming=True, query=query)
    streams = Streams(ctx)
    cap = streams.open(mode, op_id, ctx.apis[mode].build("POST", generation_path(ctx, op_id), json_body=body))
    terminal = streams.terminal(mode, op_id)
    times, terminal_at, status = [], None, None
    for frame in cap.frames:
        p = frame.payload()
        if p is None:
            continue
        if p.get("event") in CONTENT and terminal_at is None:
            times.append(frame.at)
        if p.get("event") == "workflow_finished" and isinstance(p.get("data"), dict):
            status = p["data"].get("status")
        if p.get("event") in terminal and terminal_at is None:
            terminal_at = frame.at
    return Baseline(query, cap, _answer(cap), times, terminal_at, status)


def _answer(cap: StreamCapture) -> str:
    text = cap.answer()
    if text:
        return text
    return "".join(
        str((p.get("data") or {}).get("text", "")) for p in cap.payloads() if p.get("event") == "text_chunk"
    )


def long_run(ctx: Context, mode: str) -> Baseline:
    """The unstopped long generation of this run (measured once per mode, shared by stop and incremental).

    When the configured long-answer query streams too briefly to judge, it is tried once more with a long
    text to continue (models that restate their prompt then answer at length too).
    """
    key = ("long-run", mode)
    if key not in ctx.cache:
        base = _measure(ctx, mode, ctx.config.stop_query)
        if not base.long_enough and mode != "workflow" and base.pace * FILLER_WORDS < ESCALATION_BUDGET:
            longer = _measure(ctx, mode, f"{ctx.config.stop_query} Continue this text: {FILLER}")
            if longer.span > base.span:
                base = longer
        ctx.cache[key] = base
    result: Baseline = ctx.cache[key]
    return result


@register(
    CheckSpec(
        "sse.incremental",
        "sse",
        "A long generation is delivered as it is produced (events spread between the first one and the "
        "terminal one), not held back and sent in one burst at the end.",
        Target.FIXED,
        GENERATION_OPS,
    ),
    "scenario",
)
def incremental(ctx: Context, mode: str) -> None:
    c, op = "sse.incremental", generation_op(mode)
    base = long_run(ctx, mode)
    cap = base.capture
    if base.terminal_at is None or not base.content_times:
        if cap.status == 200 and base.terminal_at is not None:
            kinds = "/".join(CONTENT)
            msg = f"the run streamed no text to judge (no {kinds} events, ended at {base.terminal_at:.2f}s)"
            ctx.record(c, mode, op, Outcome.INCONCLUSIVE, msg, cap.exchange)
        elif cap.status == 200 and cap.ended == "idle-timeout":
            msg = (
                f"held back: {len(base.content_times)} content event(s), then no byte for "
                f"{ctx.config.limits.stream_idle_timeout:g}s while the generation went on"
            )
            ctx.record(c, mode, op, Outcome.FAIL, msg, cap.exchange, evidence=cap.transcript())
        else:
            msg = f"the long generation did not stream to its end ({cap.status}, {cap.ended})"
            ctx.record(c, mode, op, Outcome.FAIL, msg, cap.exchange, evidence=cap.transcript())
        return
    first, end = base.content_times[0], base.terminal_at
    if end < MIN_SPAN or len(base.content_times) < 3:
        msg = (
            f"the whole generation took {end * 1000:.0f} ms ({base.describe()}): too short to tell streamed "
            "from buffered delivery"
        )
        ctx.record(c, mode, op, Outcome.INCONCLUSIVE, msg, cap.exchange)
        return
    arrivals = len({round(t, 3) for t in base.content_times})
    if base.span < 0.1 * end or arrivals < 2:
        msg = (
            f"held back: first content event at {first:.2f}s, terminal at {end:.2f}s, "
            f"{len(base.content_times)} events in {arrivals} arrival(s)"
        )
        ctx.record(c, mode, op, Outcome.FAIL, msg, cap.exchange, evidence=cap.transcript())
        return
    msg = (
        f"{len(base.content_times)} content events over {base.span:.2f}s, first at {first:.2f}s of {end:.2f}s"
    )
    ctx.record(c, mode, op, Outcome.PASS, msg)


@register(
    CheckSpec(
        "scenario.stop",
        "scenario",
        "Stop mid-stream ends the generation by outcome: terminal event within stop_timeout, the answer a "
        "strict prefix of (and shorter than) an unstopped run of the same request, a workflow ends `stopped`,"
        " "
        "the stored answer equals the streamed one. Too fast to stop is INCONCLUSIVE, not a pass.",
        Target.FIXED,
        ("stopChatMessageGeneration", "stopGenerate", "stopWorkflowTaskGeneration"),
    ),
    "scenario",
)
def stop(ctx: Context, mode: str) -> None:
    c, sop = "scenario.stop", stop_op(mode)
    base = long_run(ctx, mode)
    if base.terminal_at is None:
        msg = f"the unstopped run of the long request did not finish ({base.capture.ended})"
        ctx.record(c, mode, sop, Outcome.FAIL, msg, base.capture.exchange, evidence=base.capture.transcript())
        return
    api, user = ctx.apis[mode], ctx.user("stop")
    op_id = generation_op(mode)
    state: dict[str, Any] = {}
    begun = time.monotonic()

    def on_event(payload: dict[str, Any]) -> None:
        if "ack" in state or "task_id" not in payload:
            return
        if mode != "workflow" and payload.get("event") not in CONTENT:
            return
        path = ctx.spec.operations[sop].path.replace("{task_id}", str(payload["task_id"]))
        state["ack"] = api.call("POST", path, json_body={"user": user})
        state["ack_at"] = time.monotonic() - begun

    body = generation_body(ctx, mode, user, streaming=True, query=base.query)
    cap = Streams(ctx).open(
        mode, op_id, api.build("POST", generation_path(ctx, op_id), json_body=body), on_event
    )
    evidence = cap.transcript()
    ack = state.get("ack")
    if ack is None:
        ctx.record(
            c,
            mode,
            sop,
            Outcome.FAIL,
            "the stream carried no task_id to stop",
            cap.exchange,
            evidence=evidence,
        )
        return
    if ack.status != 200:
        ctx.record(c, mode, sop, Outcome.FAIL, f"stop answered {ack.status}", ack.exchange)
        return
    terminal = Streams(ctx).terminal(mode, op_id)
    term = next((f for f in cap.frames if (f.payload() or {}).get("event") in terminal), None)
    if term is None or cap.ended != "closed":
        msg = f"after stop the stream ended as {cap.ended!r} without closing on a terminal event"
        ctx.record(c, mode, sop, Outcome.FAIL, msg, cap.exchange, evidence=evidence)
        return
    streamed = _answer(cap)
    finished = next((p for p in cap.payloads() if p.get("event") == "workflow_finished"), None)
    status = (finished.get("data") or {}).get("status") if finished else None
    # The same outcome as the unstopped run, and the generation ended before the stop or within the time
    # a server may take to honour it: the stop may have come too late to change anything, so no verdict.
    unchanged = streamed == base.answer and status in (None, base.status)
    within_bound = term.at - state["ack_at"] <= ctx.config.limits.stop_timeout
    if unchanged and within_bound:
        when = "before" if term.at <= state["ack_at"] else f"{term.at - state['ack_at']:.2f}s after"
        msg = (
            f"too fast to stop: the generation ended {term.at:.2f}s in, {when} the stop was acknowledged at "
            f"{state['ack_at']:.2f}s, with the unstopped outcome (unstopped run: {base.describe()}); set "
            "stop_query to a request that streams for longer than stop_timeout"
        )
        ctx.record(c, mode, sop, Outcome.INCONCLUSIVE, msg, cap.exchange)
        return
    problems = _judge(ctx, mode, base, cap, streamed, status, term.at - state["ack_at"])
    if mode in CHAT_MODES and not problems:
        problems += _stored_answer(ctx, mode, user, cap, streamed)
    if finished is not None and not problems:
        problems += _stored_run(ctx, mode, str(finished.get("workflow_run_id")))
    if problems:
        ctx.record(c, mode, sop, Outcome.FAIL, "; ".join(problems[:3]), cap.exchange, evidence=evidence)
        return
    lag = max(0.0, term.at - state["ack_at"])
    msg = (
        f"stopped {lag:.2f}s after the acknowledgement; {len(streamed)} of {len(base.answer)} characters kept"
    )
    ctx.record(c, mode, sop, Outcome.PASS, msg + (f", run {status}" if status else ""))


def _judge(
    ctx: Context, mode: str, base: Baseline, cap: StreamCapture, streamed: str, status: Any, lag: float
) -> list[str]:
    problems = []
    if lag > ctx.config.limits.stop_timeout:
        problems.append(
            f"the terminal event came {lag:.2f}s after the stop (limit {ctx.config.limits.stop_timeout:g}s)"
        )
    if status is not None and status != "stopped":
        problems.append(f"the run ended with status {status!r}, not 'stopped'")
    if mode != "workflow":
        if len(streamed) >= len(base.answer):
            problems.append(
                f"the stopped answer ({len(streamed)} chars) is not shorter than the unstopped one "
                f"({len(base.answer)})"
            )
        elif not base.answer.startswith(streamed):
            same_start = streamed[:20] == base.answer[:20]
            if same_start:  # the model repeats itself, so a stop must cut the same text
                problems.append(
                    f"the stopped answer is not a prefix of the unstopped one: {streamed[-60:]!r}"
                )
    return problems


def _stored_answer(ctx: Context, mode: str, user: str, cap: StreamCapture, streamed: str) -> list[str]:
    end = next((p for p in cap.payloads() if p.get("event") == "message_end"), None)
    cid = (
        end.get("conversation_id") if end else next((p.get("conversation_id") for p in cap.payloads()), None)
    )
    r = ctx.apis[mode].call("GET", "/messages", params={"conversation_id": cid, "user": user})
    data = r.json.get("data", []) if isinstance(r.json, dict) else []
    stored = data[-1].get("answer") if data and isinstance(data[-1], dict) else None
    if r.status != 200 or not isinstance(stored, str) or stored.strip() != streamed.strip():
        return [f"stored answer {str(stored)[:60]!r}… differs from the streamed one {streamed[:60]!r}…"]
    return []


def _stored_run(ctx: Context, mode: str, run_id: str) -> list[str]:
    r = ctx.apis[mode].call("GET", f"/workflows/run/{run_id}")
    status = r.json.get("status") if isinstance(r.json, dict) else None
    if r.status != 200 or status != "stopped":
        return [f"after the stop the run record answers {r.status} with status {status!r}"]
    return []
