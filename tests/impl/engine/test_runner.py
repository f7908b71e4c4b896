"""The runner on in-memory graphs with the builtin model: scheduling, error strategies, retries,
stop, containers, assigners, template sandbox, graph checks, the HTTP address policy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphs import START, Hooks, edge, end, node, run, tpl

from impl.engine import graph_problems, parse_graph
from impl.engine.nodes.basic import apply_operation
from impl.engine.nodes.http import check_destination, pin
from impl.engine.runner import NodeError


def test_if_else_join_waits_for_the_branch_that_ran() -> None:
    nodes = [
        START,
        node(
            "check",
            "if-else",
            cases=[
                {
                    "case_id": "big",
                    "logical_operator": "and",
                    "conditions": [
                        {"variable_selector": ["start", "n"], "comparison_operator": ">", "value": "5"}
                    ],
                }
            ],
        ),
        tpl("a", "big {{ n }}", n=["start", "n"]),
        tpl("b", "small {{ n }}", n=["start", "n"]),
        node("join", "variable-aggregator", variables=[["a", "output"], ["b", "output"]]),
        end(out=["join", "output"]),
    ]
    edges = [
        edge("start", "check"),
        edge("check", "a", "big"),
        edge("check", "b", "false"),
        edge("a", "join"),
        edge("b", "join"),
        edge("join", "end"),
    ]
    outcome, events = run(nodes, edges, {"n": 9})
    assert outcome.status == "succeeded" and outcome.outputs == {"out": "big 9"}
    started = [d["node_id"] for n, d in events if n == "node_started"]
    assert started == ["start", "check", "a", "join", "end"]
    assert [d["index"] for n, d in events if n == "node_started"] == [1, 2, 3, 4, 5]
    assert run(nodes, edges, {"n": 1})[0].outputs == {"out": "small 1"}


def test_failures_retries_and_strategies() -> None:
    failing = {"provider": "builtin", "name": "x", "completion_params": {"fail": "completion_request_error"}}
    llm = node(
        "llm",
        "llm",
        model=failing,
        prompt_template=[{"role": "user", "text": "hi"}],
        retry_config={"retry_enabled": True, "max_retries": 3, "retry_interval": 1},
    )
    nodes = [START, llm, tpl("after", "x"), end(out=["after", "output"])]
    edges = [edge("start", "llm"), edge("llm", "after"), edge("after", "end")]
    outcome, events = run(nodes, edges)
    assert outcome.status == "failed" and "fail" in (outcome.error or "")
    assert [d["retry_index"] for n, d in events if n == "node_retry"] == [1, 2, 3]
    assert "after" not in [d["node_id"] for n, d in events if n == "node_started"]
    llm["data"]["error_strategy"] = "fail-branch"
    nodes = [
        START,
        llm,
        tpl("after", "x"),
        tpl("oops", "{{ m }}", m=["llm", "error_message"]),
        end(out=["oops", "output"]),
    ]
    edges = [
        edge("start", "llm"),
        edge("llm", "after"),
        edge("llm", "oops", "fail-branch"),
        edge("oops", "end"),
    ]
    outcome, events = run(nodes, edges)
    assert outcome.status == "partial-succeeded" and outcome.exceptions_count == 1
    assert "fail" in outcome.outputs["out"] and "after" not in [
        d["node_id"] for n, d in events if n == "node_started"
    ]
    llm["data"].update(error_strategy="default-value", default_value=[{"key": "text", "value": "dflt"}])
    outcome, _events = run([START, llm, end(out=["llm", "text"])], [edge("start", "llm"), edge("llm", "end")])
    assert outcome.outputs == {"out": "dflt"} and outcome.status == "partial-succeeded"


def test_stop_before_any_node() -> None:
    outcome, events = run([START, end()], [edge("start", "end")], stop=True)
    assert outcome.status == "stopped" and events == []


def test_iteration_error_modes_and_loop_end() -> None:
    inner = tpl("inner", "{{ 10 // item }}", item=["it", "item"])
    inner["parentId"] = "it"
    start_child = node("it-start", "iteration-start")
    start_child["parentId"] = "it"
    nodes = [
        START,
        node(
            "it",
            "iteration",
            iterator_selector=["start", "xs"],
            output_selector=["inner", "output"],
            start_node_id="it-start",
            error_handle_mode="remove-abnormal-output",
        ),
        start_child,
        inner,
        end(out=["it", "output"]),
    ]
    edges = [edge("start", "it"), edge("it-start", "inner"), edge("it", "end")]
    assert run(nodes, edges, {"xs": [1, 0, 5]})[0].outputs == {"out": ["10", "2"]}
    nodes[1]["data"]["error_handle_mode"] = "continue-on-error"
    assert run(nodes, edges, {"xs": [1, 0, 5]})[0].outputs == {"out": ["10", None, "2"]}
    nodes[1]["data"]["error_handle_mode"] = "terminated"
    outcome, events = run(nodes, edges, {"xs": [1, 0, 5]})
    assert outcome.status == "failed"
    completed = [d for n, d in events if n == "iteration_completed"]
    assert completed[0]["status"] == "failed"
    # a loop that breaks through a loop-end node on its second round
    children = [
        node("l-start", "loop-start"),
        node(
            "bump",
            "assigner",
            version="2",
            items=[
                {"variable_selector": ["l", "i"], "input_type": "constant", "operation": "+=", "value": 1}
            ],
        ),
        node(
            "stop-if",
            "if-else",
            cases=[
                {
                    "case_id": "done",
                    "logical_operator": "and",
                    "conditions": [
                        {"variable_selector": ["l", "i"], "comparison_operator": "≥", "value": "2"}
                    ],
                }
            ],
        ),
        node("l-end", "loop-end"),
    ]
    for child in children:
        child["parentId"] = "l"
    loop = node(
        "l",
        "loop",
        loop_count=9,
        start_node_id="l-start",
        loop_variables=[{"label": "i", "var_type": "number", "value_type": "constant", "value": "0"}],
    )
    outcome, events = run(
        [START, loop, *children, end(out=["l", "i"])],
        [
            edge("start", "l"),
            edge("l-start", "bump"),
            edge("bump", "stop-if"),
            edge("stop-if", "l-end", "done"),
            edge("l", "end"),
        ],
    )
    assert outcome.outputs == {"out": 2}
    # loop_next follows a round that does not end the loop (Dify's loop_node.py): one here
    assert [d["index"] for n, d in events if n == "loop_next"] == [1]


def test_assigner_operations_and_conversation_writes() -> None:
    assert apply_operation([1], "append", 2) == [1, 2]
    assert apply_operation([1], "extend", [2, 3]) == [1, 2, 3]
    assert apply_operation([1, 2, 3], "remove-first", None) == [2, 3]
    assert apply_operation([1, 2, 3], "remove-last", None) == [1, 2]
    assert apply_operation("x", "clear", None) == "" and apply_operation({"a": 1}, "clear", None) == {}
    assert apply_operation(6, "/=", 3) == 2 and apply_operation(2, "*=", 2.5) == 5.0
    with pytest.raises(NodeError):
        apply_operation("x", "+=", 1)
    with pytest.raises(NodeError):
        apply_operation(1, "/=", 0)
    hooks = Hooks()
    assign = node(
        "as",
        "assigner",
        version="2",
        items=[
            {
                "variable_selector": ["conversation", "count"],
                "input_type": "constant",
                "operation": "+=",
                "value": 2,
            },
            {
                "variable_selector": ["conversation", "items"],
                "input_type": "variable",
                "operation": "append",
                "value": ["sys", "query"],
            },
        ],
    )
    answer = node("ans", "answer", answer="{{#conversation.count#}} {{#conversation.items#}}")
    outcome, events = run(
        [START, assign, answer], [edge("start", "as"), edge("as", "ans")], mode="advanced-chat", hooks=hooks
    )
    assert hooks.writes == [("count", 3), ("items", ["q"])]
    assert outcome.answer == '3 ["q"]' and outcome.outputs == {"answer": '3 ["q"]'}
    assert [d["text"] for n, d in events if n == "text_chunk"] == ["3", " ", '["q"]']


def test_template_sandbox_and_human_input() -> None:
    nodes = [START, tpl("t", "{{ ''.__class__.__mro__[1].__subclasses__() }}"), end(out=["t", "output"])]
    outcome, _events = run(nodes, [edge("start", "t"), edge("t", "end")])
    assert outcome.status == "failed" and "template error" in (outcome.error or "")
    hooks = Hooks()
    human = node(
        "h",
        "human-input",
        form_content="ok? {{#$output.note#}}",
        inputs=[{"type": "text-input", "output_variable_name": "note"}],
        user_actions=[{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
    )
    nodes = [START, human, tpl("y", "yes {{ n }}", n=["h", "note"]), tpl("n", "no"), end(out=["y", "output"])]
    edges = [edge("start", "h"), edge("h", "y", "yes"), edge("h", "n", "no"), edge("y", "end")]
    outcome, _events = run(nodes, edges, hooks=hooks)
    assert outcome.outputs == {"out": "yes fine"} and hooks.forms[0]["user_actions"][1]["id"] == "no"


def test_classifier_and_extractor_with_the_builtin_model() -> None:
    model = {"provider": "builtin", "name": "echo"}
    classes = [{"id": "c1", "name": "weather"}, {"id": "c2", "name": "sports"}]
    nodes = [
        START,
        node(
            "qc", "question-classifier", model=model, classes=classes, query_variable_selector=["start", "q"]
        ),
        tpl("w", "W"),
        tpl("s", "S"),
        node(
            "pe",
            "parameter-extractor",
            model=model,
            query=["start", "q"],
            parameters=[
                {"name": "city", "type": "string", "required": True},
                {"name": "days", "type": "number", "required": True},
                {"name": "unit", "type": "select", "options": ["celsius", "fahrenheit"]},
            ],
        ),
        end(
            w=["w", "output"],
            s=["s", "output"],
            city=["pe", "city"],
            days=["pe", "days"],
            unit=["pe", "unit"],
            ok=["pe", "__is_success"],
        ),
    ]
    edges = [
        edge("start", "qc"),
        edge("qc", "w", "c1"),
        edge("qc", "s", "c2"),
        edge("w", "pe"),
        edge("s", "pe"),
        edge("pe", "end"),
    ]
    outcome, _events = run(nodes, edges, {"q": "sports and weather in city: Oslo for 3 days in fahrenheit"})
    assert outcome.outputs == {
        "w": None,
        "s": "S",
        "city": "Oslo for 3 days in fahrenheit",
        "days": 3,
        "unit": "fahrenheit",
        "ok": 1,
    }


def test_graph_problems_are_reported_not_refused() -> None:
    def problems(nodes: list[dict[str, Any]], mode: str = "workflow") -> list[str]:
        return [p.message for p in graph_problems(parse_graph({"nodes": nodes, "edges": []}), mode)]

    assert problems([START, node("c", "code")]) == []  # code nodes run in impl.sandbox
    assert problems([START, node("t", "tool"), node("a", "agent")]) == []  # impl.tools
    assert problems([START, node("k", "knowledge-retrieval")]) == []  # impl.knowledge
    assert [m.split(":")[0] for m in problems([START, node("k", "knowledge-index")])] == [
        "node type 'knowledge-index' cannot run here"
    ]
    assert "only stream in advanced-chat" in problems([START, node("a", "answer")])[0]
    assert problems([end()]) == ["the graph has no start node"]
    assert problems([START, end()]) == []
    graph = parse_graph(
        {
            "nodes": [START, {"id": "note", "type": "custom-note", "data": {"type": ""}}],
            "edges": [edge("start", "note")],
        }
    )
    assert list(graph.nodes) == ["start"] and graph.edges == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://127.0.0.1:1/",
        "http://169.254.169.254/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://100.64.0.1/",
        "ftp://example.com/",
        "http:///x",
    ],
)
def test_http_address_policy(url: str) -> None:
    with pytest.raises(NodeError):
        asyncio.run(check_destination(url, frozenset()))


def test_http_allow_list_admits_by_host_or_address() -> None:
    asyncio.run(check_destination("http://127.0.0.1:9/", frozenset({"127.0.0.1"})))
    asyncio.run(check_destination("http://localhost:9/", frozenset({"localhost"})))


def test_http_connects_to_the_checked_address() -> None:
    address = asyncio.run(check_destination("http://127.0.0.1:9/x?q=1", frozenset({"127.0.0.1"})))
    assert pin("http://example.test:8080/x?q=1", address) == (
        "http://127.0.0.1:8080/x?q=1",
        "example.test:8080",
        "example.test",
    )


class ConcurrentForms(Hooks):
    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0
        self.most = 0

    async def pause(self, runner: Any, node: Any, form: dict[str, Any]) -> dict[str, Any]:
        self.waiting += 1
        self.most = max(self.most, self.waiting)
        await asyncio.sleep(0.1 if node.id == "slow" else 0.02)
        self.waiting -= 1
        return {"action": "submit", "inputs": {"note": node.id}}


def test_parallel_branches_run_concurrently_and_the_join_waits_for_both() -> None:
    form = {"inputs": [{"type": "text-input", "output_variable_name": "note"}]}
    nodes = [
        START,
        node("slow", "human-input", **form),
        node("fast", "human-input", **form),
        tpl("join", "{{ a }}+{{ b }}", a=["slow", "note"], b=["fast", "note"]),
        end(out=["join", "output"]),
    ]
    edges = [
        edge("start", "slow"),
        edge("start", "fast"),
        edge("slow", "join"),
        edge("fast", "join"),
        edge("join", "end"),
    ]
    hooks = ConcurrentForms()
    outcome, events = run(nodes, edges, hooks=hooks)
    assert outcome.outputs == {"out": "slow+fast"} and hooks.most == 2
    order = [(n, d["node_id"]) for n, d in events if n in ("node_started", "node_finished")]
    assert order[2:6] == [
        ("node_started", "slow"),
        ("node_started", "fast"),
        ("node_finished", "fast"),
        ("node_finished", "slow"),
    ]


def test_a_failing_branch_cancels_its_running_sibling() -> None:
    form = {"inputs": [{"type": "text-input", "output_variable_name": "note"}]}
    nodes = [
        START,
        node("slow", "human-input", **form),
        tpl("bad", "{{ 1 // 0 }}"),
        end(out=["slow", "note"]),
    ]
    edges = [edge("start", "slow"), edge("start", "bad"), edge("slow", "end"), edge("bad", "end")]
    outcome, events = run(nodes, edges, hooks=ConcurrentForms())
    assert outcome.status == "failed" and "division" in (outcome.error or "")
    statuses = {d["node_id"]: d["status"] for n, d in events if n == "node_finished"}
    assert statuses == {"start": "succeeded", "bad": "failed", "slow": "stopped"}
