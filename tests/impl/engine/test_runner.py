"""The runner on in-memory graphs with the builtin model: scheduling, error strategies, retries,
stop, containers, assigners, template sandbox, graph checks, the HTTP address policy."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from impl.engine import GraphError, Node, VariablePool, WorkflowRunner, check_supported, parse_graph
from impl.engine.nodes.basic import apply_operation
from impl.engine.nodes.http import check_destination, pin
from impl.engine.runner import NodeError, RunOutcome
from impl.providers import BuiltinModel, ChatModel, PromptMessage


class Hooks:
    def __init__(self) -> None:
        self.history: list[PromptMessage] = []
        self.http_allowed_hosts: frozenset[str] = frozenset()
        self.writes: list[tuple[str, Any]] = []
        self.forms: list[dict[str, Any]] = []

    def build_model(self, model: Mapping[str, Any]) -> ChatModel:
        return BuiltinModel()

    async def write_conversation_variable(self, name: str, value: Any) -> None:
        self.writes.append((name, value))

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        self.forms.append(form)
        return {"action": "yes", "inputs": {"note": "fine"}}


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "data": {"type": node_type, "title": node_id, **data}}


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    return {"id": f"{source}-{target}-{handle}", "source": source, "target": target, "sourceHandle": handle}


def tpl(node_id: str, template: str, **variables: list[str]) -> dict[str, Any]:
    return node(
        node_id,
        "template-transform",
        template=template,
        variables=[{"variable": k, "value_selector": v} for k, v in variables.items()],
    )


def end(**outputs: list[str]) -> dict[str, Any]:
    return node("end", "end", outputs=[{"variable": k, "value_selector": v} for k, v in outputs.items()])


def run(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    inputs: dict[str, Any] | None = None,
    *,
    mode: str = "workflow",
    stop: bool = False,
    hooks: Hooks | None = None,
) -> tuple[RunOutcome, list[tuple[str, dict[str, Any]]]]:
    graph = check_supported({"nodes": nodes, "edges": edges}, mode)
    pool = VariablePool()
    pool.values = {
        "sys": {"query": "q"},
        "conversation": {"count": 1, "items": []},
        "start": dict(inputs or {}),
    }
    events: list[tuple[str, dict[str, Any]]] = []

    async def go() -> RunOutcome:
        flag = asyncio.Event()
        if stop:
            flag.set()
        runner = WorkflowRunner(
            graph, pool, lambda n, d: events.append((n, d)), hooks or Hooks(), flag, mode=mode
        )
        return await runner.run()

    return asyncio.run(go()), events


START = node("start", "start", variables=[])


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
    assert len([n for n, _d in events if n == "loop_next"]) == 2


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


def test_graph_checks() -> None:
    assert (
        check_supported({"nodes": [START, node("c", "code")], "edges": []}, "workflow").nodes["c"].type
        == "code"
    )
    with pytest.raises(GraphError, match="does not support: knowledge-retrieval"):
        check_supported({"nodes": [START, node("k", "knowledge-retrieval")], "edges": []}, "workflow")
    with pytest.raises(GraphError, match="only works in advanced-chat"):
        check_supported({"nodes": [START, node("a", "answer")], "edges": []}, "workflow")
    with pytest.raises(GraphError, match="no start node"):
        check_supported({"nodes": [end()], "edges": []}, "workflow")
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
