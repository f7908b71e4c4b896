"""(b) Event streams: headers, framing, keep-alives, event schemas, grammar, termination."""

from __future__ import annotations

from typing import Any

from conformance import grammar
from conformance.context import Context
from conformance.model import Outcome
from conformance.recipes import Streams, generation_body, generation_path
from conformance.sse import StreamCapture

SSE_CHECKS = [
    "sse.content-type",
    "sse.cache-control",
    "sse.accel-buffering",
    "sse.framing",
    "sse.keepalive",
    "sse.event-schema",
    "sse.grammar",
    "sse.terminates",
]
GRAMMAR_ONLY_KEEPALIVE = {"keepalive-early"}


def assess(
    ctx: Context,
    streams: Streams,
    validator: grammar.EventValidator,
    mode: str,
    operation: str,
    capture: StreamCapture,
) -> None:
    """Record every sse.* verdict for one captured stream."""
    ex = capture.exchange
    rec = ctx.record
    if capture.status != 200 or "text/event-stream" not in capture.content_type:
        msg = (
            f"expected 200 text/event-stream, got {capture.status} "
            f"{capture.headers.get('content-type', '(no content type)')!r}"
        )
        rec("sse.content-type", mode, operation, Outcome.FAIL, msg, ex, evidence=capture.transcript())
        for cid in SSE_CHECKS[1:]:
            rec(cid, mode, operation, Outcome.SKIP, "no event stream to inspect")
        return
    rec("sse.content-type", mode, operation, Outcome.PASS, "200 text/event-stream")
    soft = Outcome.FAIL if ctx.config.strict_headers else Outcome.WARN
    cache = capture.headers.get("cache-control", "")
    if "no-cache" in cache.lower() or "no-store" in cache.lower():
        rec("sse.cache-control", mode, operation, Outcome.PASS, f"Cache-Control: {cache}")
    else:
        rec(
            "sse.cache-control",
            mode,
            operation,
            soft,
            f"Cache-Control is {cache or 'absent'}; proxies may cache or buffer the stream",
            ex,
            evidence=capture.transcript(600),
        )
    accel = capture.headers.get("x-accel-buffering", "")
    if accel.strip().lower() == "no":
        rec("sse.accel-buffering", mode, operation, Outcome.PASS, "X-Accel-Buffering: no")
    else:
        rec(
            "sse.accel-buffering",
            mode,
            operation,
            soft,
            f"X-Accel-Buffering is {accel or 'absent'}; nginx in front would deliver the stream in bursts",
            ex,
            evidence=capture.transcript(600),
        )
    _framing(ctx, mode, operation, capture)
    events, times = _sequence(capture)
    _schemas(ctx, validator, streams, mode, operation, capture, events)
    g = streams.grammar_for(mode, operation)
    complete = capture.ended in ("closed", "not-closed-after-terminal")
    if g is None:
        rec("sse.grammar", mode, operation, Outcome.SKIP, f"no stream grammar for {mode} {operation}")
        violations: list[grammar.Violation] = []
    else:
        violations = grammar.check_sequence(g, events, complete=complete, times=times)
        structural = [v for v in violations if v.id not in GRAMMAR_ONLY_KEEPALIVE]
        if structural:
            rec(
                "sse.grammar",
                mode,
                operation,
                Outcome.FAIL,
                "; ".join(str(v) for v in structural[:3]) + f" (events: {_names(events)})",
                ex,
                evidence=capture.transcript(),
            )
        else:
            rec("sse.grammar", mode, operation, Outcome.PASS, f"{len(events)} events: {_names(events)}")
    _keepalive(ctx, mode, operation, capture, [v for v in violations if v.id in GRAMMAR_ONLY_KEEPALIVE])
    _termination(ctx, mode, operation, capture)


def _names(events: list[dict[str, Any]]) -> str:
    names = [str(e.get("event")) for e in events]
    if len(names) > 12:
        names = [*names[:5], f"…{len(names) - 10} more…", *names[-5:]]
    return " ".join(names)


def _sequence(capture: StreamCapture) -> tuple[list[dict[str, Any]], list[float]]:
    events: list[dict[str, Any]] = []
    times: list[float] = []
    for frame in capture.frames:
        if frame.is_ping:
            events.append({"event": "ping"})
        else:
            payload = frame.payload()
            if payload is None:
                continue
            events.append(payload)
        times.append(frame.at)
    return events, times


def _framing(ctx: Context, mode: str, operation: str, capture: StreamCapture) -> None:
    problems: list[str] = []
    for i, frame in enumerate(capture.frames):
        if frame.is_ping or frame.comments:
            continue  # judged by sse.keepalive
        fields = {line.partition(":")[0] for line in frame.lines}
        extra = fields - {"data", "event"}
        if extra:
            problems.append(f"frame #{i} has field(s) {sorted(extra)}: {frame.text()[:120]!r}")
        if len(frame.field("data")) != 1:
            problems.append(f"frame #{i} has {len(frame.field('data'))} data lines: {frame.text()[:120]!r}")
            continue
        payload = frame.payload()
        if payload is None:
            problems.append(f"frame #{i} data is not a JSON object: {frame.text()[:120]!r}")
        elif not isinstance(payload.get("event"), str):
            problems.append(f"frame #{i} JSON has no string `event`: {frame.text()[:120]!r}")
        elif frame.event_name is not None and frame.event_name != payload.get("event"):
            problems.append(f"frame #{i} `event:` line {frame.event_name!r} contradicts the JSON")
    if capture.trailing.strip():
        problems.append(f"stream ended inside a frame: {capture.trailing[:120]!r}")
    if any(f.crlf for f in capture.frames):
        problems.append("frames use CRLF line endings; clients expect LF")
    if problems:
        ctx.record(
            "sse.framing",
            mode,
            operation,
            Outcome.FAIL,
            "; ".join(problems[:3]),
            capture.exchange,
            evidence=capture.transcript(),
        )
    else:
        ctx.record("sse.framing", mode, operation, Outcome.PASS, f"{len(capture.frames)} well-formed frames")


def _keepalive(
    ctx: Context, mode: str, operation: str, capture: StreamCapture, timing: list[grammar.Violation]
) -> None:
    problems = []
    pings = 0
    for i, frame in enumerate(capture.frames):
        if frame.is_ping:
            pings += 1
            if any(not (line == "event: ping" or line == "event:ping") for line in frame.lines):
                problems.append(f"frame #{i}: ping frame carries more than `event: ping`")
        elif frame.comments:
            problems.append(
                f"frame #{i}: comment line {frame.comments[0][:60]!r} (only `event: ping` is allowed)"
            )
        else:
            payload = frame.payload()
            if payload is not None and payload.get("event") == "ping":
                problems.append(f"frame #{i}: ping sent as a data event ({frame.text()[:80]!r})")
    problems += [str(v) for v in timing]
    if problems:
        ctx.record(
            "sse.keepalive",
            mode,
            operation,
            Outcome.FAIL,
            "; ".join(problems[:3]),
            capture.exchange,
            evidence=capture.transcript(),
        )
    else:
        what = f"{pings} bare ping frame(s)" if pings else "no keep-alive needed (stream never idle)"
        ctx.record("sse.keepalive", mode, operation, Outcome.PASS, what)


def _schemas(
    ctx: Context,
    validator: grammar.EventValidator,
    streams: Streams,
    mode: str,
    operation: str,
    capture: StreamCapture,
    events: list[dict[str, Any]],
) -> None:
    op = ctx.spec.operations[operation]
    pointer = op.sse_events().get(mode, "")
    union = pointer.rsplit("/", 1)[-1] if pointer else None
    problems = []
    for i, event in enumerate(events):
        if event.get("event") == "ping":
            continue
        errs = validator.errors(event)
        if not errs and union:
            errs = [f"not in {union}: {e}" for e in validator.errors(event, union)]
        if errs:
            problems.append(f"event #{i} `{event.get('event')}`: {errs[0]}")
    if problems:
        ctx.record(
            "sse.event-schema",
            mode,
            operation,
            Outcome.FAIL,
            f"{len(problems)} invalid event(s); " + "; ".join(problems[:3]),
            capture.exchange,
            evidence=capture.transcript(),
        )
    else:
        ctx.record(
            "sse.event-schema",
            mode,
            operation,
            Outcome.PASS,
            f"{len(events)} events valid against events.schema.json{f' and {union}' if union else ''}",
        )


def _termination(ctx: Context, mode: str, operation: str, capture: StreamCapture) -> None:
    ex = capture.exchange
    limits = ctx.config.limits
    if capture.ended == "closed" and capture.terminal_index is not None and not capture.after_terminal:
        ctx.record(
            "sse.terminates",
            mode,
            operation,
            Outcome.PASS,
            f"closed right after the terminal event, {capture.duration:.2f}s",
        )
        return
    if capture.ended == "closed" and capture.terminal_index is None:
        msg = "the stream closed without a terminal event"
    elif capture.ended == "closed":
        msg = f"{len(capture.after_terminal)} frame(s) after the terminal event before the close"
    elif capture.ended == "not-closed-after-terminal":
        msg = f"still open {limits.close_grace:g}s after the terminal event"
    elif capture.ended == "idle-timeout":
        msg = f"no byte for {limits.stream_idle_timeout:g}s and no terminal event (stream hangs)"
    elif capture.ended == "deadline":
        msg = f"still streaming at the {limits.stream_deadline:g}s deadline without a terminal event"
    else:
        msg = f"read error: {capture.error}"
    ctx.record("sse.terminates", mode, operation, Outcome.FAIL, msg, ex, evidence=capture.transcript())


def run(ctx: Context) -> None:
    streams = Streams(ctx)
    validator = grammar.EventValidator(ctx.spec.events)
    for mode in ctx.config.keys:
        for op in ctx.spec.served_by(mode):
            if not op.streams_for(mode) or not ctx.wanted_any(SSE_CHECKS, mode, op.operation_id):
                continue
            with ctx.timed(SSE_CHECKS, mode, op.operation_id):
                capture = _drive(ctx, streams, mode, op.operation_id)
                if capture is None:
                    for cid in SSE_CHECKS:
                        ctx.record(
                            cid,
                            mode,
                            op.operation_id,
                            Outcome.SKIP,
                            "no valid request recipe for this operation yet",
                        )
                    continue
                assess(ctx, streams, validator, mode, op.operation_id, capture)


def _drive(ctx: Context, streams: Streams, mode: str, operation: str) -> StreamCapture | None:
    api = ctx.apis[mode]
    user = ctx.user("sse")
    if operation in ("sendChatMessage", "createCompletionMessage", "executeWorkflow"):
        body = generation_body(ctx, mode, user, streaming=True, query="Say something about streams.")
        return streams.open(
            mode, operation, api.build("POST", generation_path(ctx, operation), json_body=body)
        )
    if operation in ("runWorkflowById", "streamWorkflowEvents"):
        # Both need a finished run first; take ids from its workflow_started event.
        _, first = streams.start_generation(mode, user)
        started = next((p for p in first.payloads() if p.get("event") == "workflow_started"), None)
        data = started.get("data", {}) if started else {}
        if operation == "runWorkflowById" and data.get("workflow_id"):
            body = generation_body(ctx, mode, user, streaming=True)
            path = generation_path(ctx, operation, str(data["workflow_id"]))
            return streams.open(mode, operation, api.build("POST", path, json_body=body))
        run_id = started.get("workflow_run_id") if started else None
        if operation == "streamWorkflowEvents" and run_id:
            path = ctx.spec.operations[operation].path.replace("{workflow_run_id}", str(run_id))
            return streams.open(mode, operation, api.build("GET", path, params={"user": user}))
    return None
