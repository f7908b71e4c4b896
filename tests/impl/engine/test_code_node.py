"""The code node: Dify's contract, through the real sandbox, on small DSL apps written for it.

Rules and messages come from Dify's api/core/workflow/nodes/code/code_node.py (output checks,
messages, error types) and api/configs/feature/__init__.py (`CodeExecutionSandboxConfig`:
CODE_MAX_NUMBER 9223372036854775807, CODE_MIN_NUMBER -9223372036854775807, CODE_MAX_DEPTH 5,
CODE_MAX_PRECISION 20, CODE_MAX_STRING_LENGTH 80000, CODE_MAX_STRING_ARRAY_LENGTH 30,
CODE_MAX_OBJECT_ARRAY_LENGTH 30, CODE_MAX_NUMBER_ARRAY_LENGTH 1000); the JavaScript calling
convention (`main` gets one object) from api/core/helper/code_executor/javascript/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from impl.engine import Node, VariablePool, WorkflowRunner, graph_problems, parse_graph
from impl.engine.nodes import code as code_node
from impl.engine.runner import NodeError, RunOutcome
from impl.providers import BuiltinModel, ChatModel, PromptMessage

APPS = Path(__file__).resolve().parent / "apps"
Events = list[tuple[str, dict[str, Any]]]


class Hooks:
    def __init__(self) -> None:
        self.history: list[PromptMessage] = []
        self.http_allowed_hosts: frozenset[str] = frozenset()

    def build_model(self, model: Mapping[str, Any]) -> ChatModel:
        return BuiltinModel()

    async def write_conversation_variable(self, name: str, value: Any) -> None:
        return None

    async def pause(self, runner: WorkflowRunner, node: Node, form: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no pauses here")


def run_graph(
    graph_doc: Mapping[str, Any], inputs: dict[str, Any] | None = None
) -> tuple[RunOutcome, Events]:
    graph = parse_graph(graph_doc)
    assert graph_problems(graph, "workflow") == []
    pool = VariablePool()
    pool.values = {"sys": {}, "conversation": {}, "start": dict(inputs or {})}
    events: Events = []

    async def go() -> RunOutcome:
        runner = WorkflowRunner(graph, pool, lambda n, d: events.append((n, d)), Hooks(), asyncio.Event())
        return await runner.run()

    return asyncio.run(go()), events


def run_app(name: str, inputs: dict[str, Any] | None = None) -> tuple[RunOutcome, Events]:
    doc = yaml.safe_load((APPS / name).read_text(encoding="utf-8"))
    return run_graph(doc["workflow"]["graph"], inputs)


def finished(events: Events, node_id: str) -> dict[str, Any]:
    found = [d for n, d in events if n == "node_finished" and d["node_id"] == node_id]
    assert len(found) == 1, found
    return found[0]


def one_node(language: str, code: str, outputs: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A start → code → end graph around one code node with id `c`."""
    return {
        "nodes": [
            {"id": "start", "data": {"type": "start", "title": "S", "variables": []}},
            {
                "id": "c",
                "data": {
                    "type": "code",
                    "title": "C",
                    "code_language": language,
                    "code": code,
                    "variables": [],
                    "outputs": outputs,
                    **extra,
                },
            },
            {"id": "end", "data": {"type": "end", "title": "E", "outputs": []}},
        ],
        "edges": [
            {"id": "1", "source": "start", "target": "c", "sourceHandle": "source"},
            {"id": "2", "source": "c", "target": "end", "sourceHandle": "source"},
        ],
    }


def test_contract_app_runs_python_and_javascript() -> None:
    outcome, events = run_app("code_contract.yml", {"a": 2.5, "words": "alpha be gamma"})
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs == {
        "total": 5.0,
        "label": "3 words",  # NUL characters are dropped from strings
        "rows": [{"word": "alpha", "size": 5}, {"word": "be", "size": 2}, {"word": "gamma", "size": 5}],
        "as_number": 1,  # a boolean declared as a number becomes 1
        "shout": "ALPHA BE GAMMA",
        "count": 3,
    }
    py = finished(events, "py")
    assert py["status"] == "succeeded" and py["inputs"] == {"a": 2.5, "words": "alpha be gamma"}
    assert py["outputs"]["flags"] == [True, False, True] and py["outputs"]["squares"] == [0, 1, 4, 9, 16]
    assert py["outputs"]["info"] == {"first": "alpha", "meta": {"n": 3}} and py["outputs"]["ok"] is True
    assert finished(events, "js")["inputs"]["parts"] == ["alpha", "be", "gamma"]


def test_error_app_fail_branch_and_default_value() -> None:
    outcome, events = run_app("code_errors.yml")
    assert outcome.status == "partial-succeeded" and outcome.exceptions_count == 2
    report = outcome.outputs["report"]
    assert report.startswith("CodeExecutionError: ") and "ValueError: no luck today" in report
    assert 'File "<code>", line 2, in main' in report
    assert outcome.outputs["answer"] == 42 and outcome.outputs["error_type"] == "OutputValidationError"
    assert "never" not in [d["node_id"] for n, d in events if n == "node_started"]
    boom = finished(events, "boom")
    assert boom["status"] == "exception" and "no luck today" in boom["error"]
    fallback = finished(events, "fallback")
    assert fallback["error"] == "Output answer is not a number, got <class 'str'> instead."


def test_retry_applies_to_code_failures() -> None:
    graph = one_node(
        "javascript",
        "function main() { throw new Error('flaky'); }",
        {"x": {"type": "string"}},
        retry_config={"retry_enabled": True, "max_retries": 2, "retry_interval": 1},
    )
    outcome, events = run_graph(graph)
    assert outcome.status == "failed" and "Error: flaky" in (outcome.error or "")
    assert [d["retry_index"] for n, d in events if n == "node_retry"] == [1, 2]
    assert finished(events, "c")["status"] == "failed"


@pytest.mark.parametrize(
    ("language", "code", "message"),
    [
        ("python3", "def helper():\n    return {}", "the code defines no function named main"),
        ("javascript", "const x = 1;", "the code defines no function named main"),
        ("python3", "def main():\n    return [1]", "main() must return a dict, got list"),
        ("javascript", "function main() { return 5; }", "main() must return an object, got number"),
        ("python3", "def main(:\n    pass", "SyntaxError"),
        ("javascript", "function main( {", "SyntaxError"),
        ("python3", "def main():\n    return {'x': 1 / 0}", "ZeroDivisionError: division by zero"),
        ("javascript", "async function main() { throw new TypeError('nope'); }", "TypeError: nope"),
        ("python3", "def main(missing):\n    return {}", "missing 1 required positional argument"),
        ("ruby", "def main; end", "Unsupported language ruby"),
    ],
)
def test_user_code_failures(language: str, code: str, message: str) -> None:
    outcome, events = run_graph(one_node(language, code, {"x": {"type": "string"}}))
    assert outcome.status == "failed" and message in (outcome.error or ""), outcome.error
    assert finished(events, "c")["status"] == "failed"


def test_output_checks_run_on_sandbox_results() -> None:
    long_text = "def main():\n    return {'x': 'y' * 80001}"
    outcome, _ = run_graph(one_node("python3", long_text, {"x": {"type": "string"}}))
    assert outcome.error == "The length of output variable `x` must be less than 80000 characters"
    many = "function main() { return {x: Array.from({length: 31}, (_, i) => String(i))}; }"
    outcome, _ = run_graph(one_node("javascript", many, {"x": {"type": "array[string]"}}))
    assert outcome.error == "The length of output variable `x` must be less than 30 elements."
    deep = "function main() { return {a: {b: {c: {d: {e: {f: 1}}}}}}; }"
    outcome, _ = run_graph(one_node("javascript", deep, {"a": {"type": "object"}}))
    assert outcome.error == "Depth limit 5 reached, object too deep."
    extra = "def main():\n    return {'x': 'a', 'y': 'b'}"
    outcome, events = run_graph(one_node("python3", extra, {"x": {"type": "string"}}))
    assert outcome.error == "Not all output parameters are validated."
    assert finished(events, "c")["status"] == "failed"


NUMBER = {"n": {"type": "number"}}
OUT_OF_RANGE = (
    "Output variable `n` is out of range, it must be between -9223372036854775807 and 9223372036854775807."
)


@pytest.mark.parametrize(
    ("result", "schema", "message"),
    [
        ({}, NUMBER, "Output n is missing."),
        ({"n": "1"}, NUMBER, "Output n is not a number, got <class 'str'> instead."),
        (
            {"n": 2**63},
            NUMBER,
            OUT_OF_RANGE,
        ),
        (
            {"n": -(2**63)},
            NUMBER,
            OUT_OF_RANGE,
        ),
        (
            {"n": 1.123456789012345e-15},
            NUMBER,
            "Output variable `n` has too high precision, it must be less than 20 digits.",
        ),
        ({"s": 5}, {"s": {"type": "string"}}, "Output s must be a string, got int instead"),
        ({"o": [1]}, {"o": {"type": "object"}}, "Output o is not an object, got <class 'list'> instead."),
        (
            {"a": "x"},
            {"a": {"type": "array[number]"}},
            "Output a is not an array, got <class 'str'> instead.",
        ),
        (
            {"a": list(range(1001))},
            {"a": {"type": "array[number]"}},
            "The length of output variable `a` must be less than 1000 elements.",
        ),
        (
            {"a": [1, "2"]},
            {"a": {"type": "array[number]"}},
            "The element at index 1 of output variable `a` must be a number.",
        ),
        (
            {"a": [{}] * 31},
            {"a": {"type": "array[object]"}},
            "The length of output variable `a` must be less than 30 elements.",
        ),
        (
            {"a": [{}, 3]},
            {"a": {"type": "array[object]"}},
            "Output a[1] is not an object, got <class 'int'> instead at index 1.",
        ),
        (
            {"a": [True, "no"]},
            {"a": {"type": "array[boolean]"}},
            "Output a[1] is not a boolean, got <class 'str'> instead.",
        ),
        ({"a": ["x", 1]}, {"a": {"type": "array[string]"}}, "Output variable `a[1]` must be a string"),
        ({"f": 1}, {"f": {"type": "file"}}, "Output type file is not supported."),
        (
            {"o": {"in": {"s": "y" * 80001}}},
            {"o": {"type": "object"}},
            "The length of output variable `.o.in.s` must be less than 80000 characters",
        ),
        (
            {"o": {"mixed": [1, "a"]}},
            {"o": {"type": "object"}},
            "Output .o.mixed is not a valid array. make sure all elements are of the same type.",
        ),
        ({"o": {"bad": {1, 2}}}, {"o": {"type": "object"}}, "Output .o.bad is not a valid type."),
        (
            {"o": {"x": {"n": 1}}},
            {"o": {"type": "object", "children": {"x": {"type": "object", "children": {"m": NUMBER["n"]}}}}},
            "Output .o.x.m is missing.",
        ),
        (
            {"a": [{"n": "x"}]},
            {"a": {"type": "array[object]", "children": NUMBER}},
            "Output a[0].n is not a number, got <class 'str'> instead.",
        ),
    ],
)
# Nested names keep Dify's leading dot (an object's children are prefixed ".name").
def test_output_validation_messages(result: dict[str, Any], schema: dict[str, Any], message: str) -> None:
    with pytest.raises(NodeError) as info:
        code_node.transform(result, schema)
    assert info.value.message == message
    expected_type = "CodeNodeError" if "validated" in message else "OutputValidationError"
    assert info.value.error_type in (expected_type, "DepthLimitError")


def test_output_values_that_pass() -> None:
    schema = {
        "n": {"type": "number"},
        "f": {"type": "number"},
        "s": {"type": "string"},
        "b": {"type": "boolean"},
        "none": {"type": "string"},
        "nums": {"type": "array[number]"},
        "bools": {"type": "array[boolean]"},
        "objs": {"type": "array[object]"},
        "o": {"type": "object"},
    }
    result = {
        "n": 9223372036854775807,
        "f": 0.1 + 0.2,
        "s": "x" * 80000,
        "b": False,
        "none": None,
        "nums": [True, 2, 3.5] + [0] * 997,
        "bools": [True, None],
        "objs": [None, {"k": [{"deep": 1}]}],
        "o": {"l": [[1], None], "t": True},
    }
    checked = code_node.transform(result, schema)
    assert checked["nums"][:3] == [1, 2, 3.5] and len(checked["nums"]) == 1000
    assert checked["n"] == 9223372036854775807 and checked["objs"] == [None, {"k": [{"deep": 1}]}]
    assert code_node.transform({"x": None}, {"x": {"type": "array[string]"}}) == {"x": None}
    with pytest.raises(NodeError, match="Depth limit 5 reached"):
        code_node.transform({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, {"a": {"type": "object"}})
    five_deep = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    assert code_node.transform(five_deep, {"a": {"type": "object"}}) == five_deep
