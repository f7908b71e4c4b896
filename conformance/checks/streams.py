"""(b) Event streams: headers, framing (standard and SDK-compatible), keep-alives, event schemas, grammar,
termination. The driver captures one stream per streaming operation; each registered check judges it."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import TYPE_CHECKING, Any

from conformance import grammar
from conformance.model import CheckSpec, Outcome, Target
from conformance.recipes import Streams, generation_body, generation_path
from conformance.registry import REGISTRY, register
from conformance.sse import StreamCapture

if TYPE_CHECKING:
    from conformance.context import Context

GRAMMAR_ONLY_KEEPALIVE = {"keepalive-early"}


@dataclasses.dataclass
class StreamView:
    """One captured stream and what the checks derive from it."""

    ctx: Context
    streams: Streams
    validator: grammar.EventValidator
    mode: str
    operation: str
    capture: StreamCapture

    @property
    def is_stream(self) -> bool:
        return self.capture.status == 200 and "text/event-stream" in self.capture.content_type

    @cached_property
    def sequence(self) -> tuple[list[dict[str, Any]], list[float]]:
        events: list[dict[str, Any]] = []
        times: list[float] = []
        for frame in self.capture.frames:
            if frame.is_ping:
                events.append({"event": "ping"})
            else:
                payload = frame.payload()
                if payload is None:
                    continue
                events.append(payload)
            times.append(frame.at)
        return events, times

    @cached_property
    def rules(self) -> grammar.Grammar | None:
        return self.streams.grammar_for(self.mode, self.operation)

    @cached_property
    def violations(self) -> list[grammar.Violation]:
        if self.rules is None:
            return []
        events, times = self.sequence
        complete = self.capture.ended in ("closed", "not-closed-after-terminal")
        return grammar.check_sequence(self.rules, events, complete=complete, times=times)

    def record(self, check_id: str, outcome: Outcome, message: str, *, full: bool = True) -> None:
        ex = self.capture.exchange if outcome is not Outcome.PASS else None
        evidence = self.capture.transcript() if full else self.capture.transcript(600)
        self.ctx.record(
            check_id,
            self.mode,
            self.operation,
            outcome,
            message,
            ex,
            evidence=evidence if ex else None,
        )


def _names(events: list[dict[str, Any]]) -> str:
    names = [str(e.get("event")) for e in events]
    if len(names) > 12:
        names = [*names[:5], f"…{len(names) - 10} more…", *names[-5:]]
    return " ".join(names)


def _sse(check_id: str, description: str) -> CheckSpec:
    return CheckSpec(check_id, "sse", description, Target.STREAMING)


@register(
    _sse(
        "sse.content-type",
        "A stream answers 200 with Content-Type text/event-stream (FAIL: clients pick their parser by it).",
    ),
    "stream",
)
def content_type(ctx: Context, view: StreamView) -> None:
    cap = view.capture
    if view.is_stream:
        view.record("sse.content-type", Outcome.PASS, "200 text/event-stream")
    else:
        got = cap.headers.get("content-type", "(no content type)")
        view.record(
            "sse.content-type", Outcome.FAIL, f"expected 200 text/event-stream, got {cap.status} {got!r}"
        )


def _advisory(ctx: Context, view: StreamView, check_id: str, header: str, ok: bool, why: str) -> None:
    value = view.capture.headers.get(header.lower(), "")
    if ok:
        view.record(check_id, Outcome.PASS, f"{header}: {value}")
    else:
        soft = Outcome.FAIL if ctx.config.strict_headers else Outcome.WARN
        view.record(check_id, soft, f"{header} is {value or 'absent'}; {why}", full=False)


@register(
    _sse(
        "sse.cache-control",
        "A stream sends Cache-Control: no-cache (WARN: only proxies and caches are affected).",
    ),
    "stream",
)
def cache_control(ctx: Context, view: StreamView) -> None:
    value = view.capture.headers.get("cache-control", "").lower()
    ok = "no-cache" in value or "no-store" in value
    _advisory(ctx, view, "sse.cache-control", "Cache-Control", ok, "proxies may cache or buffer the stream")


@register(
    _sse(
        "sse.accel-buffering",
        "A stream sends X-Accel-Buffering: no (WARN: only an nginx in between is affected).",
    ),
    "stream",
)
def accel_buffering(ctx: Context, view: StreamView) -> None:
    ok = view.capture.headers.get("x-accel-buffering", "").strip().lower() == "no"
    why = "nginx in front would deliver the stream in bursts"
    _advisory(ctx, view, "sse.accel-buffering", "X-Accel-Buffering", ok, why)


@register(
    _sse(
        "sse.framing",
        "Each event is one `data:` frame holding a JSON object with a string `event`; no id:/retry: lines, "
        "no `event:` line contradicting the JSON (the SSE standard's rules).",
    ),
    "stream",
)
def framing(ctx: Context, view: StreamView) -> None:
    cap = view.capture
    problems: list[str] = []
    for i, frame in enumerate(cap.frames):
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
    if cap.trailing.strip():
        problems.append(f"stream ended inside a frame: {cap.trailing[:120]!r}")
    if problems:
        view.record("sse.framing", Outcome.FAIL, "; ".join(problems[:3]))
    else:
        view.record("sse.framing", Outcome.PASS, f"{len(cap.frames)} well-formed frames")


@register(
    _sse(
        "sse.client-framing",
        "Frames are what Dify's official SDKs parse: LF line ends, `data: ` with one space, no `event:` line "
        "except the bare `event: ping` keep-alive (FAIL by default; WARN with framing = standard).",
    ),
    "stream",
)
def client_framing(ctx: Context, view: StreamView) -> None:
    cap = view.capture
    problems: list[str] = []
    if any(f.crlf for f in cap.frames):
        problems.append("frames use CRLF line endings; the SDKs split on LF only")
    for i, frame in enumerate(cap.frames):
        if frame.is_ping:
            if frame.lines != ["event: ping"]:
                problems.append(
                    f"frame #{i}: keep-alive is {frame.text()[:60]!r}, the SDKs expect `event: ping`"
                )
            continue
        for line in frame.lines:
            if line.startswith("data:") and not line.startswith("data: "):
                problems.append(
                    f"frame #{i}: `data:` without the space ({line[:60]!r}); the SDKs cut 6 chars"
                )
                break
            if line.startswith("event:"):
                problems.append(f"frame #{i}: `event:` line {line[:40]!r} on a data frame; the SDKs drop it")
                break
    if not problems:
        view.record(
            "sse.client-framing", Outcome.PASS, f"{len(cap.frames)} frames as the official SDKs parse them"
        )
        return
    outcome = Outcome.FAIL if ctx.config.framing == "sdk" else Outcome.WARN
    view.record("sse.client-framing", outcome, f"{len(problems)} problem(s): " + "; ".join(problems[:3]))


@register(
    _sse(
        "sse.keepalive",
        "Keep-alives are bare `event: ping` frames after a silence: never a data event, never a comment "
        "line.",
    ),
    "stream",
)
def keepalive(ctx: Context, view: StreamView) -> None:
    problems = []
    pings = 0
    for i, frame in enumerate(view.capture.frames):
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
    problems += [str(v) for v in view.violations if v.id in GRAMMAR_ONLY_KEEPALIVE]
    if problems:
        view.record("sse.keepalive", Outcome.FAIL, "; ".join(problems[:3]))
    else:
        what = f"{pings} bare ping frame(s)" if pings else "no keep-alive needed (stream never idle)"
        view.record("sse.keepalive", Outcome.PASS, what)


@register(
    _sse(
        "sse.event-schema",
        "Every event validates against its events.schema.json definition and the mode's stream union.",
    ),
    "stream",
)
def event_schema(ctx: Context, view: StreamView) -> None:
    events, _ = view.sequence
    op = ctx.spec.operations[view.operation]
    pointer = op.sse_events().get(view.mode, "")
    union = pointer.rsplit("/", 1)[-1] if pointer else None
    problems = []
    for i, event in enumerate(events):
        if event.get("event") == "ping":
            continue
        errs = view.validator.errors(event)
        if not errs and union:
            errs = [f"not in {union}: {e}" for e in view.validator.errors(event, union)]
        if errs:
            problems.append(f"event #{i} `{event.get('event')}`: {errs[0]}")
    if problems:
        view.record(
            "sse.event-schema", Outcome.FAIL, f"{len(problems)} invalid event(s); " + "; ".join(problems[:3])
        )
    else:
        where = f" and {union}" if union else ""
        view.record(
            "sse.event-schema", Outcome.PASS, f"{len(events)} events valid against events.schema.json{where}"
        )


@register(
    _sse(
        "sse.grammar",
        "The event sequence follows the mode's grammar: opening event, order, exactly one terminal event.",
    ),
    "stream",
)
def stream_grammar(ctx: Context, view: StreamView) -> None:
    events, _ = view.sequence
    if view.rules is None:
        view.record("sse.grammar", Outcome.SKIP, f"no stream grammar for {view.mode} {view.operation}")
        return
    structural = [v for v in view.violations if v.id not in GRAMMAR_ONLY_KEEPALIVE]
    if structural:
        msg = "; ".join(str(v) for v in structural[:3]) + f" (events: {_names(events)})"
        view.record("sse.grammar", Outcome.FAIL, msg)
    else:
        view.record("sse.grammar", Outcome.PASS, f"{len(events)} events: {_names(events)}")


@register(
    _sse("sse.terminates", "The stream ends before the deadline and closes right after its terminal event."),
    "stream",
)
def terminates(ctx: Context, view: StreamView) -> None:
    cap = view.capture
    limits = ctx.config.limits
    if cap.ended == "closed" and cap.terminal_index is not None and not cap.after_terminal:
        view.record(
            "sse.terminates", Outcome.PASS, f"closed right after the terminal event, {cap.duration:.2f}s"
        )
        return
    if cap.ended == "closed" and cap.terminal_index is None:
        msg = "the stream closed without a terminal event"
    elif cap.ended == "closed":
        msg = f"{len(cap.after_terminal)} frame(s) after the terminal event before the close"
    elif cap.ended == "not-closed-after-terminal":
        msg = f"still open {limits.close_grace:g}s after the terminal event"
    elif cap.ended == "idle-timeout":
        msg = f"no byte for {limits.stream_idle_timeout:g}s and no terminal event (stream hangs)"
    elif cap.ended == "deadline":
        msg = f"still streaming at the {limits.stream_deadline:g}s deadline without a terminal event"
    else:
        msg = f"read error: {cap.error}"
    view.record("sse.terminates", Outcome.FAIL, msg)


def drive(ctx: Context) -> None:
    """The `stream` family's driver: one captured stream per streaming operation, judged by every check."""
    entries = REGISTRY.entries("stream")
    ids = [e.spec.id for e in entries]
    streams = Streams(ctx)
    validator = grammar.EventValidator(ctx.spec.events)
    for mode in ctx.config.keys:
        for op in ctx.spec.served_by(mode):
            if not op.streams_for(mode) or not ctx.wanted_any(ids, mode, op.operation_id):
                continue
            with ctx.timed(ids, mode, op.operation_id):
                capture = _capture(ctx, streams, mode, op.operation_id)
                if capture is None:
                    for cid in ids:
                        msg = "no valid request recipe for this operation yet"
                        ctx.record(cid, mode, op.operation_id, Outcome.SKIP, msg)
                    continue
                view = StreamView(ctx, streams, validator, mode, op.operation_id, capture)
                for entry in entries:
                    if entry.fn is None or not ctx.wanted(entry.spec.id, mode, op.operation_id):
                        continue
                    if entry.spec.id != "sse.content-type" and not view.is_stream:
                        ctx.record(
                            entry.spec.id, mode, op.operation_id, Outcome.SKIP, "no event stream to inspect"
                        )
                        continue
                    entry.fn(ctx, view)


def _capture(ctx: Context, streams: Streams, mode: str, operation: str) -> StreamCapture | None:
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
