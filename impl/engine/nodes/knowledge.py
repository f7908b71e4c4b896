"""knowledge-retrieval: the passages of the app's knowledge bases that match the query.

Rules from Dify's `api/core/workflow/nodes/knowledge_retrieval/knowledge_retrieval_node.py`,
`entities.py` and `api/core/rag/retrieval/dataset_retrieval.py`:

* the query is the string at `query_variable_selector`; anything else fails the node with
  "Query variable is not string type.", an empty one with "Query is required.";
* only available datasets take part: ids the server does not know (here: not mapped to local
  files, see `impl.knowledge`) or without indexed segments are skipped; with none left the node
  succeeds with `result: []`;
* `single` mode routes the query to one dataset (none: nothing; exactly one: that one; several:
  the model of `single_retrieval_config` picks one through a tool call, and no call or a model
  failure means nothing) and searches it with the dataset's own `top_k` / score threshold;
* `multiple` mode searches every dataset (keyword datasets with the node's `top_k`, semantic ones
  with their own, as Dify does for economy vs. high-quality datasets), then, when reranking is on
  with `reranking_mode: reranking_model`, reranks the union with that (routed) rerank model;
  otherwise orders by score; `score_threshold` (when set) drops weaker passages; `top_k` keep;
* `result` is a list of `{content, title, metadata}` ordered by score, `metadata` carrying
  `_source: knowledge`, dataset / document / segment ids and names, `score`, `position` (1-based
  rank) and the segment's counts; `inputs` is `{query}`.

The server hands the engine its knowledge bases as `EngineHooks.knowledge` (a `KnowledgeBase`);
without one every dataset is unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from impl.engine.graph import Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import as_mapping, selector_of
from impl.providers import ModelConfig, ProviderError, build_tool_model
from impl.providers.embeddings import build_rerank
from impl.providers.function_calling import AgentTurn, FunctionCallingModel, ToolCalls, ToolSpec

ERROR_TYPE = "KnowledgeRetrievalNodeError"


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    description: str = ""
    search: str = "keyword"  # keyword | semantic
    top_k: int = 2
    score_threshold: float | None = None


@dataclass(frozen=True)
class Passage:
    """One segment found in a dataset."""

    content: str
    score: float
    dataset_id: str
    dataset_name: str
    document_id: str
    document_name: str
    segment_id: str
    segment_position: int
    word_count: int
    hit_count: int
    index_node_hash: str
    data_source_type: str = "upload_file"


class KnowledgeBase(Protocol):
    async def available(self, dataset_ids: Sequence[str]) -> list[DatasetInfo]:
        """The datasets of `dataset_ids` that can be searched, in the given order."""
        ...

    async def search(
        self, dataset_id: str, query: str, top_k: int, score_threshold: float | None
    ) -> list[Passage]:
        """At most `top_k` passages of the dataset, best first."""
        ...

    async def record_hits(self, segment_ids: Sequence[str]) -> None:
        """Count one retrieval for each segment (Dify's `hit_count`)."""
        ...


def knowledge_of(runner: WorkflowRunner) -> KnowledgeBase | None:
    kb: KnowledgeBase | None = getattr(runner.hooks, "knowledge", None)
    return kb


def _route_model(runner: WorkflowRunner, section: Mapping[str, Any]) -> FunctionCallingModel:
    build = getattr(runner.hooks, "build_tool_model", None)
    if build is not None:
        built: FunctionCallingModel = build(section, "function_call")
        return built
    config = ModelConfig(provider=str(section.get("provider") or ""), name=str(section.get("name") or ""))
    return build_tool_model(config)


ModelFactory = Callable[[], FunctionCallingModel]


async def choose_dataset(model: ModelFactory, query: str, datasets: Sequence[DatasetInfo]) -> str | None:
    """The dataset single mode searches (Dify's function-call router): none for no dataset, the
    one there is, else the dataset the model calls as a tool (none on no call or any failure)."""
    if not datasets:
        return None
    if len(datasets) == 1:
        return datasets[0].id
    tools = [
        ToolSpec(
            d.id,
            (d.description or f"useful for when you want to answer queries about the {d.name}")
            .replace("\n", "")
            .replace("\r", ""),
        )
        for d in datasets
    ]
    turns = [AgentTurn("system", "You are a helpful AI assistant."), AgentTurn("user", query)]
    try:
        params = {"temperature": 0.2, "top_p": 0.3, "max_tokens": 1500}
        chosen: str | None = None
        async for item in model().stream_tools(turns, tools, params):
            if isinstance(item, ToolCalls) and item.calls and chosen is None:
                chosen = item.calls[0].name
        return chosen if any(d.id == chosen for d in datasets) else None
    except Exception:  # Dify's router answers "no dataset" on any model failure
        return None


async def _rerank(config: Mapping[str, Any], query: str, passages: list[Passage]) -> list[Passage]:
    model = as_mapping(config.get("reranking_model"))
    provider, name = str(model.get("provider") or ""), str(model.get("model") or "")
    if not provider or not passages:
        return passages
    try:
        reranker = build_rerank(provider, name)
        order = await reranker.rerank(query, [p.content for p in passages])
    except ProviderError as exc:
        raise NodeError(f"Rerank model {provider}/{name} failed: {exc.message}", ERROR_TYPE) from exc
    return [replace(passages[i], score=score) for i, score in order if 0 <= i < len(passages)]


async def _multiple(
    kb: KnowledgeBase, config: Mapping[str, Any], query: str, datasets: list[DatasetInfo]
) -> list[Passage]:
    try:
        top_k = int(config.get("top_k") or 0)
    except (TypeError, ValueError):
        top_k = 0
    threshold = config.get("score_threshold")
    found: list[Passage] = []
    for d in datasets:
        if top_k <= 0:
            continue
        k = top_k if d.search == "keyword" else d.top_k
        found.extend(await kb.search(d.id, query, k, d.score_threshold if d.search == "semantic" else None))
    rerank = config.get("reranking_enable", True) is not False
    if rerank and str(config.get("reranking_mode") or "reranking_model") == "reranking_model":
        found = await _rerank(config, query, found)
    if isinstance(threshold, int | float) and not isinstance(threshold, bool):
        found = [p for p in found if p.score >= float(threshold)]
    found.sort(key=lambda p: -p.score)
    return found[:top_k] if top_k > 0 else []


async def retrieve(
    kb: KnowledgeBase | None,
    query: str,
    dataset_ids: Sequence[str],
    *,
    mode: str,
    multiple: Mapping[str, Any],
    router: ModelFactory,
) -> list[Passage]:
    """The passages of the available datasets among `dataset_ids`, by Dify's single / multiple
    rules (`multiple` is the `multiple_retrieval_config` shape; `router` makes the model that picks
    a dataset in single mode). Counts a hit for each passage returned."""
    datasets = await kb.available(dataset_ids) if kb is not None and dataset_ids else []
    if kb is None or not datasets:
        return []
    passages: list[Passage] = []
    if mode == "single":
        chosen = await choose_dataset(router, query, datasets)
        info = next((d for d in datasets if d.id == chosen), None)
        if info is not None:
            passages = await kb.search(info.id, query, info.top_k, info.score_threshold)
    else:
        passages = await _multiple(kb, multiple, query, datasets)
    if passages:
        await kb.record_hits([p.segment_id for p in passages])
    return passages


def as_result(passages: list[Passage]) -> list[dict[str, Any]]:
    """Dify's `result` items, ordered by score with their 1-based `position`."""
    ordered = sorted(passages, key=lambda p: -p.score)
    return [
        {
            "metadata": {
                "_source": "knowledge",
                "dataset_id": p.dataset_id,
                "dataset_name": p.dataset_name,
                "document_id": p.document_id,
                "document_name": p.document_name,
                "data_source_type": p.data_source_type,
                "segment_id": p.segment_id,
                "retriever_from": "workflow",
                "score": p.score,
                "segment_hit_count": p.hit_count,
                "segment_word_count": p.word_count,
                "segment_position": p.segment_position,
                "segment_index_node_hash": p.index_node_hash,
                "doc_metadata": None,
                "position": rank,
            },
            "title": p.document_name,
            "content": p.content,
        }
        for rank, p in enumerate(ordered, start=1)
    ]


@handles("knowledge-retrieval")
async def knowledge_retrieval_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    value = runner.pool.value(selector_of(node.data.get("query_variable_selector")))
    if not isinstance(value, str):
        raise NodeError("Query variable is not string type.", ERROR_TYPE)
    if not value:
        raise NodeError("Query is required.", ERROR_TYPE)
    section = as_mapping(as_mapping(node.data.get("single_retrieval_config")).get("model"))
    passages = await retrieve(
        knowledge_of(runner),
        value,
        [str(i) for i in node.data.get("dataset_ids") or [] if i],
        mode=str(node.data.get("retrieval_mode") or "multiple"),
        multiple=as_mapping(node.data.get("multiple_retrieval_config")),
        router=lambda: _route_model(runner, section),
    )
    return NodeResult(outputs={"result": as_result(passages)}, inputs={"query": value})
