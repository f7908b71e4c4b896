"""Variable pool, `{{#…#}}` rendering, value selectors and Dify's comparison operators."""

from __future__ import annotations

from typing import Any

import pytest

from impl.engine.conditions import check_conditions, compare
from impl.engine.variables import MISSING, VariablePool, referenced, segments, selector_of, to_text


def pool() -> VariablePool:
    p = VariablePool()
    p.values = {
        "sys": {"query": "hi", "files": []},
        "start": {"name": "Ada", "n": 3, "tags": ["a", "b"], "obj": {"k": {"deep": 1}}, "flag": True},
    }
    return p


def test_selectors_and_rendering() -> None:
    p = pool()
    assert p.get(["start", "obj", "k", "deep"]) == 1
    assert p.get(["start", "tags", "1"]) == "b"
    assert p.get(["sys", "sys.query"]) == "hi" and p.get(["sys", "query"]) == "hi"
    assert p.get(["start", "nope"]) is MISSING and p.get(["ghost", "x"]) is MISSING
    assert (
        p.render("{{#start.name#}} has {{#start.n#}} {{#start.tags#}} {{#start.missing#}}.")
        == 'Ada has 3 ["a", "b"] .'
    )
    assert p.render("{{#start.flag#}} {{#start.obj.k#}}") == 'true {"deep": 1}'
    assert selector_of(["a", "b"]) == ["a", "b"] and selector_of("{{#a.b#}}") == ["a", "b"]
    assert selector_of(["a"]) is None and selector_of(3) is None
    assert list(segments("x {{#a.b#}} y")) == [("text", "x "), ("var", ["a", "b"]), ("text", " y")]
    assert referenced("{{#a.b#}}{{#c.d.e#}}") == [["a", "b"], ["c", "d", "e"]]
    assert to_text(None) == "" and to_text(2.5) == "2.5"
    assert to_text({"transfer_method": "remote_url", "url": "https://x/y.png"}) == "https://x/y.png"


@pytest.mark.parametrize(
    ("operator", "actual", "expected", "result"),
    [
        ("contains", "hello world", "lo w", True),
        ("contains", ["a", "b"], "b", True),
        ("not contains", "hello", "z", True),
        ("start with", "hello", "he", True),
        ("end with", "hello", "lo", True),
        ("is", "x", "x", True),
        ("is not", "x", "y", True),
        ("empty", "", None, True),
        ("empty", [], None, True),
        ("not empty", [1], None, True),
        ("=", 3, "3", True),
        ("≠", 3, "4", True),
        (">", 5, "4.5", True),
        ("<", "2", "10", True),
        ("≥", 4, "4", True),
        ("≤", 4, "3", False),
        ("null", None, None, True),
        ("null", MISSING, None, True),
        ("not null", 0, None, True),
        ("in", "b", ["a", "b"], True),
        ("not in", "c", ["a", "b"], True),
        ("all of", ["a", "b", "c"], ["a", "c"], True),
        ("all of", ["a"], ["a", "c"], False),
        (">", "abc", "1", False),
    ],
)
def test_operators(operator: str, actual: Any, expected: Any, result: bool) -> None:
    assert compare(operator, actual, expected) is result


def test_unknown_operator_and_logical_joins() -> None:
    with pytest.raises(ValueError, match="Unsupported operator: resembles"):
        compare("resembles", 1, 1)
    p = pool()
    conds = [
        {"variable_selector": ["start", "n"], "comparison_operator": ">", "value": "1"},
        {"variable_selector": ["start", "name"], "comparison_operator": "is", "value": "{{#sys.query#}}"},
    ]
    assert check_conditions(conds, "and", p)[0] is False
    ok, trace = check_conditions(conds, "or", p)
    assert ok is True and [t["result"] for t in trace] == [True, False]
    assert trace[1]["expected_value"] == "hi"
