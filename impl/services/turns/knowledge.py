"""The knowledge context of chat and completion apps (`model_config.dataset_configs`).

Dify's `DatasetRetrieval.retrieve` (api/core/rag/retrieval/dataset_retrieval.py) runs before the
model: the enabled datasets of `dataset_configs.datasets` are searched with the query (a
completion app's query is the input named by `dataset_query_variable`) by the same single /
multiple rules as the knowledge-retrieval node (`impl.engine.nodes.knowledge.retrieve`); the
passages' contents, best first, joined by newlines, are the context, and with the app's citation
feature on (`retriever_resource.enabled`) they become the answer's `retriever_resources`.

The context goes where the prompt has `{{#context#}}`; a prompt without it gets the context as a
block of its own before the app's instructions (Dify's simple prompt puts it first too).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from impl import runtime
from impl.engine.nodes.knowledge import as_result, retrieve
from impl.engine.nodes.llm import citation
from impl.knowledge import LocalKnowledge
from impl.providers import ModelConfig
from impl.services.apps.chat_config import HasAppConfig, dataset_ids
from impl.services.apps.scope import tool_model_for

log = logging.getLogger("impl.knowledge")

PLACEHOLDER = "{{#context#}}"


@dataclass
class Context:
    text: str = ""
    resources: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, prompt: str) -> str:
        """`prompt` with the context in place (nothing changes without a context)."""
        if PLACEHOLDER in prompt:
            return prompt.replace(PLACEHOLDER, self.text)
        if not self.text:
            return prompt
        block = (
            "Use the passages between <context> and </context> as what you know; if they do not "
            "hold the answer, say so rather than guess, and answer in the language of the question."
            f"\n\n<context>\n{self.text}\n</context>"
        )
        return f"{block}\n\n{prompt}" if prompt else block


def _multiple(configs: Mapping[str, Any]) -> dict[str, Any]:
    """`dataset_configs` in the node's `multiple_retrieval_config` shape."""
    rerank = configs.get("reranking_model")
    rerank = rerank if isinstance(rerank, Mapping) else {}
    threshold = configs.get("score_threshold") if configs.get("score_threshold_enabled") else None
    return {
        "top_k": configs.get("top_k") or 4,
        "score_threshold": threshold,
        "reranking_enable": configs.get("reranking_enable", True),
        "reranking_mode": configs.get("reranking_mode") or "reranking_model",
        "reranking_model": {
            "provider": rerank.get("reranking_provider_name") or "",
            "model": rerank.get("reranking_model_name") or "",
        },
    }


async def context_for(model_config: Mapping[str, Any], model: ModelConfig, query: str, cite: bool) -> Context:
    ids = dataset_ids(model_config)
    configs = model_config.get("dataset_configs")
    if not ids or not query or not isinstance(configs, Mapping):
        return Context()
    kb = LocalKnowledge(runtime.current().database)
    passages = await retrieve(
        kb,
        query,
        ids,
        mode=str(configs.get("retrieval_model") or "multiple"),
        multiple=_multiple(configs),
        router=lambda: tool_model_for(model),
    )
    items = as_result(passages)
    text = "\n".join(str(item["content"]) for item in items)
    resources = [r for r in (citation(item) for item in items) if r is not None] if cite else []
    return Context(text, resources)


async def app_context(
    app_id: str, mode: str, app_config: HasAppConfig, model: ModelConfig, kind: str, query: str,
    inputs: Mapping[str, Any],
) -> Context:  # fmt: skip
    """The knowledge context of a chat or completion turn (agent-chat apps use their datasets as
    tools, not as a context); a retrieval that fails (say, a rerank model that is not configured)
    leaves it empty and the turn goes on, as with no dataset."""
    if mode == "agent-chat":
        return Context()
    model_config = app_config.model_config or {}
    if kind == "completion":
        name = str(model_config.get("dataset_query_variable") or "")
        query = str(inputs.get(name) or "") if name else ""
    cite = (app_config.features or {}).get("retriever_resource")
    cite = cite if cite is not None else model_config.get("retriever_resource")
    show = isinstance(cite, Mapping) and bool(cite.get("enabled"))
    try:
        return await context_for(model_config, model, query, show)
    except Exception as exc:
        log.warning("knowledge retrieval failed for app %s: %s", app_id, getattr(exc, "message", exc))
        return Context()
