"""list-operator (impl/engine/nodes/lists.py) against Dify's rules
(`api/core/workflow/nodes/list_operator/node.py`, `entities.py`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graphs import START, edge, end, node, run


def list_op(**config: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "variable": ["start", "xs"],
        "filter_by": {"enabled": False, "conditions": []},
        "order_by": {"enabled": False, "key": "", "value": "asc"},
        "limit": {"enabled": False, "size": -1},
        "extract_by": {"enabled": False, "serial": "1"},
    }
    data.update(config)
    return node("lo", "list-operator", **data)


def outputs(xs: Any, **config: Any) -> dict[str, Any]:
    nodes = [
        START,
        list_op(**config),
        end(r=["lo", "result"], first=["lo", "first_record"], last=["lo", "last_record"]),
    ]
    outcome, events = run(nodes, [edge("start", "lo"), edge("lo", "end")], {"xs": xs, "word": "an"})
    if outcome.status != "succeeded":
        finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "lo"]
        return {"error": finished[0]["error"]}
    return outcome.outputs


def cond(operator: str, value: Any, key: str = "") -> dict[str, Any]:
    return {"enabled": True, "conditions": [{"key": key, "comparison_operator": operator, "value": value}]}


def test_strings_filter_order_limit_and_records() -> None:
    words = ["banana", "apple", "cherry", "avocado", ""]
    assert outputs(words, filter_by=cond("start with", "a")) == {
        "r": ["apple", "avocado"],
        "first": "apple",
        "last": "avocado",
    }
    # the value is a template; `in` with a text value is a substring test, as in Dify
    assert outputs(words, filter_by=cond("contains", "{{#start.word#}}"))["r"] == ["banana"]
    assert outputs(words, filter_by=cond("in", "apple pie"))["r"] == ["apple", ""]
    assert outputs(words, filter_by=cond("not empty", ""))["r"] == ["banana", "apple", "cherry", "avocado"]
    ordered = outputs(words, order_by={"enabled": True, "value": "desc"}, limit={"enabled": True, "size": 2})
    assert ordered["r"] == ["cherry", "banana"]
    # filter, then extract, then order, then limit; a disabled step changes nothing
    assert outputs(words, filter_by=cond("contains", "a"), extract_by={"enabled": True, "serial": "2"})[
        "r"
    ] == ["apple"]


def test_numbers_booleans_and_files() -> None:
    assert outputs([5, 1, 3.5, 10], filter_by=cond("≥", "3"), order_by={"enabled": True, "value": "asc"})[
        "r"
    ] == [
        3.5,
        5,
        10,
    ]
    assert outputs([True, False, True], filter_by=cond("is", False))["r"] == [False]
    files = [
        {
            "transfer_method": "local_file",
            "type": "document",
            "filename": "b.pdf",
            "extension": ".pdf",
            "size": 30,
        },
        {
            "transfer_method": "remote_url",
            "type": "image",
            "filename": "a.png",
            "extension": ".png",
            "size": 10,
        },
    ]
    assert [f["filename"] for f in outputs(files, filter_by=cond("in", ["image"], "type"))["r"]] == ["a.png"]
    assert [f["filename"] for f in outputs(files, filter_by=cond("end with", "pdf", "name"))["r"]] == [
        "b.pdf"
    ]
    assert [f["size"] for f in outputs(files, filter_by=cond(">", "20", "size"))["r"]] == [30]
    by_name = outputs(files, order_by={"enabled": True, "key": "name", "value": "asc"})
    assert [f["filename"] for f in by_name["r"]] == ["a.png", "b.pdf"]


@pytest.mark.parametrize(
    ("xs", "config", "error"),
    [
        ([{"a": 1}], {}, "is not an ArrayFileSegment, ArrayNumberSegment or ArrayStringSegment"),
        (
            ["a"],
            {"extract_by": {"enabled": True, "serial": "0"}},
            "Invalid serial index: must be >= 1, got 0",
        ),
        (
            ["a"],
            {"extract_by": {"enabled": True, "serial": "3"}},
            "Invalid serial index: must be <= 1, got 3",
        ),
        ([1, 2], {"filter_by": cond("contains", "1")}, "Invalid condition: contains"),
        (["a"], {"filter_by": cond("is", True)}, "Invalid filter value: True"),
    ],
)
def test_errors_fail_the_node(xs: Any, config: dict[str, Any], error: str) -> None:
    assert error in outputs(xs, **config)["error"]


def test_empty_and_missing_inputs() -> None:
    assert outputs([]) == {"r": [], "first": None, "last": None}
    nodes = [START, list_op(variable=["start", "nope"]), end(r=["lo", "result"])]
    outcome, _events = run(nodes, [edge("start", "lo"), edge("lo", "end")])
    assert (
        outcome.status == "failed" and outcome.error == "Variable not found for selector: ['start', 'nope']"
    )
