"""conformance.grammar: good and bad event sequences per app mode, checked against spec/events.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.grammar import (
    EventValidator,
    Grammar,
    GrammarError,
    Violation,
    check_sequence,
    endings_matched,
    load_events_document,
    load_grammar,
    load_grammars,
)

EVENTS_PATH = Path(__file__).resolve().parents[2] / "spec" / "events.schema.json"
Event = dict[str, Any]


@pytest.fixture(scope="module")
def grammars() -> dict[str, Grammar]:
    return load_grammars(EVENTS_PATH)


def ev(name: str, **data: Any) -> Event:
    """An event with just what the grammar looks at: its name and, if given, a `data` object."""
    return {"event": name, "data": data} if data else {"event": name}


def ids(violations: list[Violation]) -> list[str]:
    return [v.id for v in violations]


def wf_done(status: str = "succeeded") -> Event:
    return ev("workflow_finished", status=status)


def node(kind: str, node_id: str, **extra: Any) -> Event:
    return ev(kind, node_id=node_id, **extra)


# ------------------------------------------------------------------------------- loading


def test_loads_from_path_and_from_parsed_document() -> None:
    doc = load_events_document(EVENTS_PATH)
    assert set(load_grammars(doc)) == set(load_grammars(str(EVENTS_PATH)))
    chat = load_grammar(doc, "chat")
    assert chat.terminal == {"message_end", "error"}
    assert "message" in chat.opening
    with pytest.raises(KeyError):
        load_grammar(doc, "agent")


def test_rejects_malformed_grammar_data() -> None:
    doc = json.loads(EVENTS_PATH.read_text(encoding="utf-8"))
    broken = json.loads(json.dumps(doc))
    broken["x-stream-grammars"]["chat"]["terminal"] = ["message_end"]
    with pytest.raises(GrammarError, match="terminal"):
        load_grammars(broken)
    broken = json.loads(json.dumps(doc))
    broken["x-stream-grammars"]["chat"]["states"]["answering"]["on"]["message"] = "nowhere"
    with pytest.raises(GrammarError, match="nowhere"):
        load_grammars(broken)
    broken = json.loads(json.dumps(doc))
    broken["$defs"]["stream_chat"]["oneOf"].append({"$ref": "#/$defs/node_started"})
    with pytest.raises(GrammarError, match="node_started"):
        load_grammars(broken)


# ------------------------------------------------------------------------- message modes


def test_normal_chat(grammars: dict[str, Grammar]) -> None:
    seq = [ev("message"), ev("message"), ev("message_file"), ev("message"), ev("message_end")]
    assert check_sequence(grammars["chat"], seq) == []


def test_stopped_chat_ends_with_message_end(grammars: dict[str, Grammar]) -> None:
    # a stop mid-answer still ends with message_end carrying the partial answer
    assert check_sequence(grammars["chat"], [ev("message"), ev("message_end")]) == []
    assert check_sequence(grammars["completion"], [ev("message_end")]) == []


def test_error_mid_stream_is_terminal(grammars: dict[str, Grammar]) -> None:
    assert check_sequence(grammars["chat"], [ev("message"), ev("error")]) == []
    late = check_sequence(grammars["chat"], [ev("message"), ev("error"), ev("message_end")])
    assert ids(late) == ["terminal-multiple"]
    assert late[0].index == 2


def test_agent_chat_interleaves_thoughts_and_answer(grammars: dict[str, Grammar]) -> None:
    seq = [
        ev("agent_thought"),
        ev("message_file"),
        ev("agent_thought"),
        ev("agent_message"),
        ev("message_end"),
    ]
    assert check_sequence(grammars["agent-chat"], seq) == []
    assert ids(check_sequence(grammars["chat"], seq)) == ["unknown-event"] * 3


def test_event_after_terminal(grammars: dict[str, Grammar]) -> None:
    found = check_sequence(grammars["completion"], [ev("message"), ev("message_end"), ev("message")])
    assert ids(found) == ["after-terminal"]
    assert found[0].index == 2
    assert ids(check_sequence(grammars["chat"], [ev("message_end"), ev("ping")])) == ["after-terminal"]


def test_missing_terminal(grammars: dict[str, Grammar]) -> None:
    found = check_sequence(grammars["chat"], [ev("message"), ev("message")])
    assert ids(found) == ["terminal-missing"]
    assert found[0].index == 2
    assert check_sequence(grammars["chat"], [ev("message")], complete=False) == []
    assert ids(check_sequence(grammars["chat"], [])) == ["terminal-missing"]


def test_two_terminals(grammars: dict[str, Grammar]) -> None:
    assert ids(check_sequence(grammars["chat"], [ev("message_end"), ev("message_end")])) == [
        "terminal-multiple"
    ]


def test_unknown_event(grammars: dict[str, Grammar]) -> None:
    seq = [ev("message"), ev("text_replace"), {"answer": "no event key"}, ev("message_end")]
    found = check_sequence(grammars["chat"], seq)
    assert ids(found) == ["unknown-event", "unknown-event"]
    assert [v.index for v in found] == [1, 2]


def test_tts_message_end_precedes_the_terminal_event(grammars: dict[str, Grammar]) -> None:
    ours = [ev("message"), ev("tts_message"), ev("tts_message_end"), ev("message_end")]
    assert check_sequence(grammars["chat"], ours) == []
    assert ids(check_sequence(grammars["chat"], [*ours[:2], ev("tts_message_end"), ev("message")])) == [
        "order",
        "terminal-missing",
    ]
    difys = [ev("message"), ev("tts_message"), ev("message_end"), ev("tts_message_end")]
    assert ids(check_sequence(grammars["chat"], difys)) == ["after-terminal"]
    assert check_sequence(grammars["chat"], difys, dify_compat=True) == []


def test_keepalive_anywhere_before_terminal_with_timing(grammars: dict[str, Grammar]) -> None:
    seq = [ev("ping"), ev("message"), ev("ping"), ev("ping"), ev("message_end")]
    assert check_sequence(grammars["chat"], seq) == []
    assert check_sequence(grammars["chat"], seq, times=[10.0, 12.0, 22.0, 32.0, 33.0]) == []
    early = check_sequence(grammars["chat"], seq, times=[10.0, 12.0, 15.0, 25.0, 26.0])
    assert ids(early) == ["keepalive-early"]
    assert early[0].index == 2
    # Dify counts from the request: a ping 1 s after a message is fine under that rule
    difyish = [ev("message"), ev("ping"), ev("message_end")]
    times = [9.0, 10.0, 11.0]
    assert ids(check_sequence(grammars["chat"], difyish, times=times)) == ["keepalive-early"]
    assert check_sequence(grammars["chat"], difyish, times=times, keepalive_rule="stream-age") == []
    with pytest.raises(ValueError):
        check_sequence(grammars["chat"], difyish, times=[1.0])


def test_bad_opening(grammars: dict[str, Grammar]) -> None:
    found = check_sequence(grammars["workflow"], [ev("ping"), node("node_started", "a"), wf_done()])
    assert ids(found) == ["opening", "order"]
    assert found[0].index == 1


# ----------------------------------------------------------------------- workflow modes


def test_workflow_with_an_iteration(grammars: dict[str, Grammar]) -> None:
    seq = [
        ev("workflow_started"),
        node("node_started", "start"),
        node("node_finished", "start"),
        node("iteration_started", "it"),
        node("iteration_next", "it", index=0),
        node("node_started", "llm", iteration_id="it"),
        ev("text_chunk", text="a"),
        node("node_finished", "llm", iteration_id="it"),
        node("iteration_next", "it", index=1),
        node("node_started", "llm", iteration_id="it"),
        node("node_finished", "llm", iteration_id="it"),
        node("iteration_completed", "it"),
        node("node_started", "end"),
        node("node_finished", "end"),
        wf_done(),
    ]
    assert check_sequence(grammars["workflow"], seq) == []
    assert check_sequence(grammars["workflow-events"], seq) == []


def test_nested_loop_inside_iteration(grammars: dict[str, Grammar]) -> None:
    seq = [
        ev("workflow_started"),
        node("iteration_started", "it"),
        node("loop_started", "lp", iteration_id="it"),
        node("loop_next", "lp", iteration_id="it"),
        node("node_started", "code", loop_id="lp"),
        node("node_finished", "code", loop_id="lp"),
        node("loop_completed", "lp", iteration_id="it"),
        node("iteration_completed", "it"),
        wf_done(),
    ]
    assert check_sequence(grammars["workflow"], seq) == []


def test_unbalanced_iteration(grammars: dict[str, Grammar]) -> None:
    unclosed = [
        ev("workflow_started"),
        node("iteration_started", "it"),
        node("iteration_next", "it"),
        wf_done(),
    ]
    found = check_sequence(grammars["workflow"], unclosed)
    assert ids(found) == ["unbalanced-iteration"]
    assert found[0].index == 3
    # a failed or stopped run may leave the container open
    assert check_sequence(grammars["workflow"], [*unclosed[:3], wf_done("stopped")]) == []
    stray = [ev("workflow_started"), node("iteration_completed", "it"), wf_done()]
    assert ids(check_sequence(grammars["workflow"], stray)) == ["unbalanced-iteration"]
    orphan = [ev("workflow_started"), node("node_started", "llm", iteration_id="it"), wf_done()]
    assert ids(check_sequence(grammars["workflow"], orphan)) == ["unbalanced-iteration"]
    step = [ev("workflow_started"), node("iteration_next", "it"), wf_done()]
    assert ids(check_sequence(grammars["workflow"], step)) == ["unbalanced-iteration"]
    twice = [ev("workflow_started"), node("iteration_started", "it"), node("iteration_started", "it")]
    assert ids(check_sequence(grammars["workflow"], twice, complete=False)) == ["unbalanced-iteration"]
    no_key = [ev("workflow_started"), ev("iteration_started"), wf_done("failed")]
    assert ids(check_sequence(grammars["workflow"], no_key)) == ["unbalanced-iteration"]


def test_unbalanced_loop(grammars: dict[str, Grammar]) -> None:
    seq = [ev("workflow_started"), node("loop_started", "lp"), node("iteration_completed", "lp"), wf_done()]
    assert ids(check_sequence(grammars["workflow"], seq)) == ["unbalanced-iteration", "unbalanced-loop"]


def test_workflow_failure_is_not_an_error_event(grammars: dict[str, Grammar]) -> None:
    seq = [ev("workflow_started"), node("node_started", "a"), node("node_finished", "a", status="failed"),
           wf_done("failed")]  # fmt: skip
    assert check_sequence(grammars["workflow"], seq) == []
    assert ids(check_sequence(grammars["workflow"], [*seq, ev("error")])) == ["terminal-multiple"]
    assert check_sequence(grammars["workflow"], [ev("error")]) == []


def test_paused_workflow(grammars: dict[str, Grammar]) -> None:
    seq = [
        ev("workflow_started"),
        node("node_started", "approval"),
        ev("human_input_required", node_id="approval"),
        ev("workflow_paused", status="paused"),
    ]
    assert check_sequence(grammars["workflow"], seq) == []
    assert ids(check_sequence(grammars["workflow"], [*seq, node("node_started", "x")])) == ["after-terminal"]
    # once a form is pending the original stream cannot finish normally
    # (a misplaced terminal event still ends the stream, so nothing else is reported)
    finished = [*seq[:3], wf_done()]
    assert ids(check_sequence(grammars["workflow"], finished)) == ["order"]


def test_resume_stream_may_continue_after_a_pause(grammars: dict[str, Grammar]) -> None:
    g = grammars["workflow-events"]
    assert check_sequence(g, [wf_done()]) == []
    assert check_sequence(g, [node("node_finished", "a"), ev("workflow_paused")]) == []
    resumed = [
        ev("workflow_paused"),
        ev("human_input_form_filled", node_id="approval"),
        node("node_finished", "approval"),
        wf_done(),
    ]
    assert check_sequence(g, resumed) == []
    assert ids(check_sequence(g, [ev("workflow_started"), node("node_started", "a")])) == ["terminal-missing"]


def test_resume_stream_of_a_run_that_ends_while_paused(grammars: dict[str, Grammar]) -> None:
    # stopped or timed out while waiting for a form: the run may end without resuming first
    g = grammars["workflow-events"]
    paused = [ev("workflow_started"), ev("human_input_required", node_id="approval"), ev("workflow_paused")]
    assert check_sequence(g, [*paused, wf_done("stopped")]) == []
    assert endings_matched(g, [*paused, wf_done("stopped")]) == ["stopped"]
    # the server's older path (a resumption workflow_started first) stays valid
    assert check_sequence(g, [*paused, ev("workflow_started", reason="resumption"), wf_done("stopped")]) == []
    assert ids(check_sequence(g, [*paused, wf_done("stopped"), ev("workflow_started")])) == ["after-terminal"]
    adv = grammars["advanced-chat-events"]
    assert check_sequence(adv, [*paused, wf_done("stopped"), ev("message_end")]) == []
    assert check_sequence(adv, [*paused, wf_done("stopped")]) == []
    assert check_sequence(adv, [*paused, wf_done("failed"), ev("error")]) == []
    # the POST streams still end at the pause
    assert ids(check_sequence(grammars["workflow"], [*paused, wf_done("stopped")])) == ["terminal-multiple"]


def test_advanced_chat_ends_workflow_finished_then_message_end(grammars: dict[str, Grammar]) -> None:
    g = grammars["advanced-chat"]
    seq = [
        ev("workflow_started"),
        node("node_started", "llm"),
        ev("message"),
        ev("message"),
        node("node_finished", "llm"),
        wf_done(),
        ev("message_end"),
    ]
    assert check_sequence(g, seq) == []
    stopped = [ev("workflow_started"), ev("message"), wf_done("stopped"), ev("message_end")]
    assert check_sequence(g, stopped) == []
    failed = [ev("workflow_started"), wf_done("failed"), ev("error")]
    assert check_sequence(g, failed) == []
    # Dify's docs order (message_end before workflow_finished) is rejected
    reversed_order = [ev("workflow_started"), ev("message"), ev("message_end"), wf_done()]
    assert ids(check_sequence(g, reversed_order)) == ["order", "after-terminal"]
    # workflow_finished alone is not the end of an advanced-chat stream
    assert ids(check_sequence(g, seq[:-1])) == ["terminal-missing"]
    # an annotation reply answers without running the graph
    assert check_sequence(g, [ev("message"), ev("message_end")]) == []
    tts = [ev("workflow_started"), ev("message"), ev("tts_message"), wf_done(), ev("tts_message_end"),
           ev("message_end")]  # fmt: skip
    assert check_sequence(g, tts) == []


def test_advanced_chat_resume_of_a_finished_run(grammars: dict[str, Grammar]) -> None:
    g = grammars["advanced-chat-events"]
    assert check_sequence(g, [wf_done()]) == []
    assert check_sequence(g, [wf_done(), ev("message_end")]) == []
    assert ids(check_sequence(g, [wf_done(), ev("message_end"), ev("message")])) == ["after-terminal"]


def test_endings_classify_how_a_stream_ended(grammars: dict[str, Grammar]) -> None:
    adv = grammars["advanced-chat"]
    stopped = [ev("workflow_started"), ev("message"), wf_done("stopped"), ev("ping"), ev("message_end")]
    assert endings_matched(adv, stopped) == ["stopped"]
    assert endings_matched(adv, [ev("workflow_started"), wf_done(), ev("message_end")]) == ["normal"]
    assert endings_matched(adv, [ev("workflow_started"), wf_done("failed"), ev("error")]) == ["failed"]
    wf = grammars["workflow"]
    assert endings_matched(wf, [ev("workflow_started"), wf_done("stopped"), ev("tts_message_end")]) == [
        "stopped"
    ]
    paused = [ev("workflow_started"), ev("human_input_required"), ev("workflow_paused")]
    assert endings_matched(wf, paused) == ["paused"]
    assert endings_matched(wf, [ev("workflow_started")]) == []
    assert sorted(endings_matched(grammars["chat"], [ev("message"), ev("message_end")])) == [
        "normal",
        "stopped",
    ]


def test_violation_renders_on_one_line() -> None:
    text = str(Violation("order", 3, "`x` not allowed"))
    assert text == "[order] event #3: `x` not allowed"
    assert "\n" not in text


# ---------------------------------------------------------------------------- validator


def test_event_validator_checks_payloads_and_unions() -> None:
    validator = EventValidator(EVENTS_PATH)
    good = {
        "event": "message",
        "task_id": "7d3b1f0e-5c2a-4e8b-9a61-2f4c8d9e0a11",
        "message_id": "5ad4cb98-f0c7-4085-b384-88c403be6290",
        "conversation_id": "45701982-8118-4bc5-8e9b-64562b4555f2",
        "created_at": 1705395332,
        "answer": "hi",
    }
    assert validator.errors(good) == []
    assert validator.is_valid(good, "stream_advanced-chat")
    assert not validator.is_valid(good, "stream_workflow")
    null_time = {**good, "created_at": None}
    assert any(e.startswith("created_at:") for e in validator.errors(null_time, "stream_chat"))
    bad_uuid = {**good, "task_id": "not-a-uuid"}
    assert validator.errors(bad_uuid) != []
    assert EventValidator(EVENTS_PATH, check_formats=False).errors(bad_uuid) == []
    uid = good["task_id"]
    data = {"id": uid, "workflow_id": uid, "status": "exploded", "elapsed_time": 1.0, "total_tokens": 0,
            "total_steps": 1, "created_at": 1}  # fmt: skip
    finished = {"event": "workflow_finished", "task_id": uid, "workflow_run_id": uid, "data": data}
    assert any("data/status" in e for e in validator.errors(finished))
    assert validator.errors(good, "stream_nope") == ["no schema for event 'stream_nope'"]
