"""Where a chat app's knowledge context goes in its prompt, and how `dataset_configs` reads."""

from __future__ import annotations

from impl.services.apps.chat_config import dataset_ids
from impl.services.turns.knowledge import Context, _multiple


def test_the_context_fills_the_placeholder_or_comes_first() -> None:
    context = Context("Tea is steeped at 80 degrees.")
    assert context.apply("Notes: {{#context#}} Be brief.") == "Notes: Tea is steeped at 80 degrees. Be brief."
    block = context.apply("You are a tea expert.")
    assert block.startswith("Use the passages between <context> and </context>")
    assert "<context>\nTea is steeped at 80 degrees.\n</context>\n\nYou are a tea expert." in block
    assert Context().apply("You are a tea expert.") == "You are a tea expert."
    assert Context().apply("Notes: {{#context#}}") == "Notes: "


def test_dataset_configs_in_the_nodes_shape() -> None:
    configs = {
        "retrieval_model": "multiple",
        "top_k": 3,
        "score_threshold": 0.4,
        "score_threshold_enabled": False,
        "reranking_model": {"reranking_provider_name": "cohere", "reranking_model_name": "rerank-3"},
        "datasets": {
            "datasets": [
                {"dataset": {"enabled": True, "id": "a"}},
                {"dataset": {"enabled": False, "id": "b"}},
                {"dataset": {"id": "c"}},
            ]
        },
    }
    assert dataset_ids({"dataset_configs": configs}) == ["a", "c"]
    shaped = _multiple(configs)
    assert shaped["top_k"] == 3 and shaped["score_threshold"] is None  # the threshold is off
    assert shaped["reranking_model"] == {"provider": "cohere", "model": "rerank-3"}
    assert _multiple({**configs, "score_threshold_enabled": True})["score_threshold"] == 0.4
