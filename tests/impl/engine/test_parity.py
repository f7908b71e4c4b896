"""Parity with Dify, one test per node type this engine runs. Each test names the Dify source file
(langgenius/dify, `api/core/workflow/...`) its rules come from; the graphs are our own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphs import START, Hooks, edge, end, node, run, tpl

from impl.engine.conditions import compare
from impl.engine.nodes.knowledge import DatasetInfo, Passage
from impl.engine.variables import MISSING


def chain(*nodes: dict[str, Any], inputs: dict[str, Any] | None = None, **kw: Any) -> Any:
    ids = ["start", *[n["id"] for n in nodes]]
    edges = [edge(a, b) for a, b in zip(ids, ids[1:], strict=False)]
    return run([START, *nodes], edges, inputs, **kw)


def test_start() -> None:
    """nodes/start/start_node.py: outputs are the inputs plus the system variables as `sys.*`."""
    _outcome, events = chain(end(x=["start", "x"]), inputs={"x": 1})
    start = [d for n, d in events if n == "node_finished" and d["node_id"] == "start"][0]
    assert start["outputs"] == {"x": 1, "sys.query": "q"} and start["inputs"] == {"x": 1}


def test_end() -> None:
    """nodes/end/end_node.py: outputs are the named selectors' values (null when unset)."""
    outcome, _events = chain(end(a=["start", "x"], b=["start", "missing"]), inputs={"x": "v"})
    assert outcome.outputs == {"a": "v", "b": None}


def test_answer() -> None:
    """nodes/answer/answer_node.py: the rendered answer and an empty file list."""
    answer = node("ans", "answer", answer="Hi {{#start.x#}}!")
    outcome, events = chain(answer, inputs={"x": "Ada"}, mode="advanced-chat")
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "ans"][0]
    assert finished["outputs"] == {"answer": "Hi Ada!", "files": []} and outcome.answer == "Hi Ada!"


def test_template_transform() -> None:
    """nodes/template_transform/template_transform_node.py (rendered by jinja2 with its default
    keep_trailing_newline=False): one trailing newline is dropped; the output length is capped
    with "Output length exceeds N characters"."""
    outcome, _events = chain(
        tpl("t", "{{ x }}\n", x=["start", "x"]), end(o=["t", "output"]), inputs={"x": "a"}
    )
    assert outcome.outputs == {"o": "a"}
    outcome, _events = chain(tpl("t", "{{ 'x' * 400001 }}"), end(o=["t", "output"]))
    assert outcome.error == "Output length exceeds 400000 characters"


def test_if_else() -> None:
    """utils/condition/processor.py: `empty` is falsiness (0 is empty); comparisons with a null
    variable are false; unknown operators fail with "Unsupported operator"."""
    assert compare("empty", 0, None) and compare("empty", False, None) and not compare("empty", "0", None)
    assert not compare("is not", None, "x") and not compare("≠", None, "1") and compare("not in", None, ["a"])
    assert not compare("start with", MISSING, "a") and compare("not contains", "", "a")
    case = {"case_id": "c", "logical_operator": "and", "conditions": [_cond("resembles")]}
    outcome, _events = chain(node("if", "if-else", cases=[case]), end())
    assert outcome.error == "Unsupported operator: resembles"


def _cond(operator: str) -> dict[str, Any]:
    return {"variable_selector": ["start", "x"], "comparison_operator": operator, "value": "1"}


def test_variable_aggregator() -> None:
    """nodes/variable_aggregator/variable_aggregator_node.py: the first set variable; with groups,
    one `{output}` object per group name."""
    groups = {
        "group_enabled": True,
        "groups": [{"group_name": "g", "variables": [["start", "missing"], ["start", "x"]]}],
    }
    agg = node("agg", "variable-aggregator", advanced_settings=groups)
    outcome, _events = chain(agg, end(o=["agg", "g"]), inputs={"x": 5})
    assert outcome.outputs == {"o": {"output": 5}}


def test_assigner() -> None:
    """nodes/variable_assigner/v2/node.py: items apply in order (over-write, +=, append …) and the
    process data lists the updated variables."""
    items = [
        {
            "variable_selector": ["conversation", "count"],
            "input_type": "constant",
            "operation": "+=",
            "value": 4,
        },
        {
            "variable_selector": ["conversation", "items"],
            "input_type": "constant",
            "operation": "append",
            "value": 1,
        },
    ]
    hooks = Hooks()
    outcome, events = chain(
        node("as", "assigner", version="2", items=items), end(c=["conversation", "count"]), hooks=hooks
    )
    assert outcome.outputs == {"c": 5} and hooks.writes == [("count", 5), ("items", [1])]
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "as"][0]
    assert [u["new_value"] for u in finished["process_data"]["updated_variables"]] == [5, [1]]


def test_http_request() -> None:
    """nodes/http_request/node.py: a refused destination fails the node; with the default-value
    error strategy the run goes on with the node's defaults."""
    http = node("h", "http-request", method="get", url="http://127.0.0.1:9/", error_strategy="default-value",
                default_value=[{"key": "status_code", "value": 599}])  # fmt: skip
    outcome, events = chain(http, end(s=["h", "status_code"], e=["h", "error_type"]))
    assert outcome.status == "partial-succeeded" and outcome.outputs == {
        "s": 599,
        "e": "HttpRequestNodeError",
    }
    assert [d["status"] for n, d in events if n == "node_finished" and d["node_id"] == "h"] == ["exception"]


MODEL = {"provider": "builtin", "name": "echo", "mode": "chat"}


def test_llm() -> None:
    """nodes/llm/node.py: outputs text, usage and finish_reason; process data has the prompts."""
    llm = node("llm", "llm", model=MODEL, prompt_template=[{"role": "user", "text": "say {{#start.x#}}"}])
    outcome, events = chain(llm, end(t=["llm", "text"]), inputs={"x": "hi"})
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "llm"][0]
    assert set(finished["outputs"]) == {"text", "usage", "finish_reason"}
    assert finished["process_data"]["prompts"][0] == {"role": "user", "text": "say hi", "files": []}
    assert outcome.outputs["t"] == finished["outputs"]["text"]


def test_llm_structured_output() -> None:
    """nodes/llm/node.py and entities.py (`structured_output_switch_on`, alias
    `structured_output_enabled`, plus a `structured_output` section) with
    llm_generator/output_parser/structured_output.py: the answer streams as text and is parsed
    into a `structured_output` object that selectors reach into; a section without a schema
    fails with "Please provide a valid structured output schema"; an answer holding no object
    fails with "Failed to parse structured output: " twice over the text (the parser's
    OutputParserError wrapped by the node's LLMNodeError)."""
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}}
    data = {"model": MODEL, "prompt_template": [{"role": "user", "text": "list {{#start.x#}}"}]}
    llm = node("llm", "llm", **data, structured_output_enabled=True, structured_output={"schema": schema})
    outcome, events = chain(llm, end(i=["llm", "structured_output", "items"]), inputs={"x": "rivers"})
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "llm"][0]
    assert set(finished["outputs"]) == {"text", "usage", "finish_reason", "structured_output"}
    assert outcome.outputs == {"i": ["list rivers"]}
    assert finished["outputs"]["text"] == '{"items": ["list rivers"]}'
    empty = node("llm", "llm", **data, structured_output_enabled=True, structured_output={})
    outcome, _events = chain(empty, end())
    assert outcome.error == "Please provide a valid structured output schema"
    off = node("llm", "llm", **data, structured_output_enabled=False, structured_output={"schema": schema})
    _outcome, events = chain(off, end())
    assert "structured_output" not in [d for n, d in events if n == "node_finished"][1]["outputs"]


def test_question_classifier() -> None:
    """nodes/question_classifier/question_classifier_node.py: class_name / class_id outputs and
    the chosen class id as the branch handle."""
    classes = [{"id": "a", "name": "billing"}, {"id": "b", "name": "weather"}]
    qc = node(
        "qc", "question-classifier", model=MODEL, classes=classes, query_variable_selector=["start", "x"]
    )
    nodes = [START, qc, tpl("wa", "A"), tpl("wb", "B"), end(a=["wa", "output"], b=["wb", "output"])]
    edges = [
        edge("start", "qc"),
        edge("qc", "wa", "a"),
        edge("qc", "wb", "b"),
        edge("wa", "end"),
        edge("wb", "end"),
    ]
    outcome, _events = run(nodes, edges, {"x": "the weather today"})
    assert outcome.outputs == {"a": None, "b": "B"}


def test_parameter_extractor() -> None:
    """nodes/parameter_extractor/parameter_extractor_node.py: one output per parameter plus
    `__is_success`, `__reason` and `__usage`."""
    params = [{"name": "n", "type": "number", "required": True}]
    pe = node("pe", "parameter-extractor", model=MODEL, query=["start", "x"], parameters=params)
    outcome, events = chain(pe, end(n=["pe", "n"], ok=["pe", "__is_success"]), inputs={"x": "n: 42"})
    assert outcome.outputs == {"n": 42, "ok": 1}
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "pe"][0]
    assert {"__reason", "__usage"} <= set(finished["outputs"])


def test_human_input() -> None:
    """nodes/human_input/: the chosen action is the branch; the form's values are the outputs."""
    human = node("h", "human-input", inputs=[{"type": "text-input", "output_variable_name": "note"}],
                 user_actions=[{"id": "yes", "title": "Yes"}])  # fmt: skip
    outcome, _events = chain(human, end(n=["h", "note"], a=["h", "__action_id"]))
    assert outcome.outputs == {"n": "fine", "a": "yes"}


def test_document_extractor() -> None:
    """document_extractor/node.py: one file gives `text` as a string. (list_operator/node.py,
    the rest of document_extractor/node.py, iteration/iteration_node.py and loop/loop_node.py are
    checked rule by rule in tests/impl/engine/nodes/.)"""
    hooks = Hooks()
    hooks.uploads = {"u": b"b\na\n"}
    doc = node("doc", "document-extractor", variable_selector=["start", "f"])
    file = {"transfer_method": "local_file", "upload_file_id": "u", "extension": ".txt"}
    lines = node("lines", "template-transform", template="{{ t.split() | tojson }}",
                 variables=[{"variable": "t", "value_selector": ["doc", "text"]}])  # fmt: skip
    outcome, _events = chain(doc, lines, end(o=["lines", "output"]), inputs={"f": file}, hooks=hooks)
    assert outcome.outputs == {"o": '["b", "a"]'}


class FakeKnowledge:
    """Two datasets of passages with fixed scores (the search itself is tested in tests/impl/knowledge)."""

    def __init__(self) -> None:
        self.datasets = {
            "ds-a": DatasetInfo("ds-a", "Alpha", top_k=1),
            "ds-b": DatasetInfo("ds-b", "Beta", search="semantic", top_k=3),
        }
        self.hits: list[str] = []
        self.searched: list[tuple[str, int]] = []

    async def available(self, dataset_ids: Sequence[str]) -> list[DatasetInfo]:
        return [self.datasets[i] for i in dataset_ids if i in self.datasets]

    async def search(
        self, dataset_id: str, query: str, top_k: int, score_threshold: float | None
    ) -> list[Passage]:
        self.searched.append((dataset_id, top_k))
        name = self.datasets[dataset_id].name
        found = [
            Passage(
                f"{name} {n} on {query}",
                score,
                dataset_id,
                name,
                f"doc-{n}",
                f"{n}.md",
                f"seg-{dataset_id}-{n}",
                n,
                5,
                0,
                f"hash-{n}",
            )
            for n, score in ((1, 0.9), (2, 0.5), (3, 0.2))
            if dataset_id == "ds-a" or score < 0.9
        ]
        return found[:top_k]

    async def record_hits(self, segment_ids: Sequence[str]) -> None:
        self.hits.extend(segment_ids)


class KnowledgeHooks(Hooks):
    def __init__(self) -> None:
        super().__init__()
        self.knowledge = FakeKnowledge()


def _retrieval(**data: Any) -> dict[str, Any]:
    return node("kr", "knowledge-retrieval", query_variable_selector=["start", "q"], **data)


def test_knowledge_retrieval() -> None:
    """nodes/knowledge_retrieval/knowledge_retrieval_node.py and core/rag/retrieval/dataset_retrieval.py:
    the query must be a non-empty string ("Query variable is not string type.", "Query is
    required."); unavailable datasets are skipped and with none left the node succeeds with an empty
    `result`; multiple mode merges the datasets (economy ones with the node's top_k, high-quality
    ones with their own), drops scores under `score_threshold`, keeps `top_k` by score; single mode
    with one available dataset searches it with the dataset's top_k; items carry `content`, `title`
    and `metadata` with `_source: knowledge` and the 1-based `position`."""
    multiple = {"top_k": 3, "score_threshold": 0.3, "reranking_enable": False}
    outcome, _events = chain(_retrieval(dataset_ids=["ds-a"]), end(r=["kr", "result"]), inputs={"q": 3})
    assert outcome.status == "failed" and outcome.error == "Query variable is not string type."
    outcome, _events = chain(_retrieval(dataset_ids=["ds-a"]), end(r=["kr", "result"]), inputs={"q": ""})
    assert outcome.error == "Query is required."
    outcome, events = chain(
        _retrieval(dataset_ids=["gone"], retrieval_mode="multiple", multiple_retrieval_config=multiple),
        end(r=["kr", "result"]),
        inputs={"q": "tea"},
        hooks=KnowledgeHooks(),
    )
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "kr"][0]
    assert (
        outcome.status == "succeeded"
        and outcome.outputs == {"r": []}
        and finished["inputs"] == {"query": "tea"}
    )
    hooks = KnowledgeHooks()
    outcome, _events = chain(
        _retrieval(
            dataset_ids=["ds-b", "gone", "ds-a"],
            retrieval_mode="multiple",
            multiple_retrieval_config=multiple,
        ),
        end(r=["kr", "result"]),
        inputs={"q": "tea"},
        hooks=hooks,
    )
    result = outcome.outputs["r"]
    assert hooks.knowledge.searched == [("ds-b", 3), ("ds-a", 3)]
    assert [(r["content"], r["metadata"]["score"], r["metadata"]["position"]) for r in result] == [
        ("Alpha 1 on tea", 0.9, 1),
        ("Beta 2 on tea", 0.5, 2),  # equal scores keep the datasets' order
        ("Alpha 2 on tea", 0.5, 3),
    ]
    first = result[0]
    assert first["title"] == "1.md" and first["metadata"]["_source"] == "knowledge"
    assert {k: first["metadata"][k] for k in ("dataset_id", "dataset_name", "document_id", "segment_id")} == {
        "dataset_id": "ds-a",
        "dataset_name": "Alpha",
        "document_id": "doc-1",
        "segment_id": "seg-ds-a-1",
    }
    assert sorted(hooks.knowledge.hits) == ["seg-ds-a-1", "seg-ds-a-2", "seg-ds-b-2"]
    hooks = KnowledgeHooks()
    outcome, _events = chain(
        _retrieval(dataset_ids=["ds-a", "gone"], retrieval_mode="single"),
        end(r=["kr", "result"]),
        inputs={"q": "tea"},
        hooks=hooks,
    )
    assert hooks.knowledge.searched == [("ds-a", 1)] and [r["content"] for r in outcome.outputs["r"]] == [
        "Alpha 1 on tea"
    ]


def test_llm_context() -> None:
    """nodes/llm/node.py `_fetch_context`: a string context is used as it is; a list joins its
    strings and its items' `content` with newlines (an object without `content` fails with
    "Invalid context structure"), and its knowledge items become the answer's retriever resources
    (chatflow `message_end.metadata.retriever_resources`)."""
    context = {"enabled": True, "variable_selector": ["kr", "result"]}
    llm = node(
        "llm",
        "llm",
        model={"provider": "builtin", "name": "echo", "mode": "chat"},
        context=context,
        prompt_template=[
            {"role": "system", "text": "Use: {{#context#}}"},
            {"role": "user", "text": "{{#start.q#}}"},
        ],
    )
    multiple = {"top_k": 2, "reranking_enable": False}
    retrieval = _retrieval(
        dataset_ids=["ds-a"], retrieval_mode="multiple", multiple_retrieval_config=multiple
    )
    _outcome, events = chain(
        retrieval, llm, end(t=["llm", "text"]), inputs={"q": "tea"}, hooks=KnowledgeHooks()
    )
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "llm"][0]
    assert finished["process_data"]["prompts"][0]["text"] == "Use: Alpha 1 on tea\nAlpha 2 on tea"
    bad = node(
        "kr",
        "code",
        code="def main(): return {'result': [{'text': 'x'}]}",
        outputs={"result": {"type": "array[object]"}},
    )
    outcome, _events = chain(bad, llm, end())
    assert outcome.status == "failed" and (outcome.error or "").startswith("Invalid context structure")
    text = tpl("kr", "plain words")
    llm["data"]["context"] = {"enabled": True, "variable_selector": ["kr", "output"]}
    _outcome, events = chain(text, llm, end())
    finished = [d for n, d in events if n == "node_finished" and d["node_id"] == "llm"][0]
    assert finished["process_data"]["prompts"][0]["text"] == "Use: plain words"
