"""Conversation titles and suggested follow-up questions, asked of the app's model."""

from __future__ import annotations

import logging

from impl.providers import BuiltinModel, ChatModel, ModelRequest, PromptMessage, collect
from impl.providers.builtin import suggestions_for, title_for

log = logging.getLogger("impl.suggestions")

TITLE_PROMPT = (
    "Write a short title (at most six words, no quotes) for a conversation that starts with "
    "the user's message below. Reply with the title only."
)
SUGGEST_PROMPT = (
    "Given the conversation below, write three short follow-up questions the user might ask "
    "next, one per line, without numbering."
)


async def generate_title(model: ChatModel, query: str) -> str | None:
    """A short conversation title, or None when the model fails (the name then stays)."""
    if isinstance(model, BuiltinModel):
        return title_for(query)
    request = ModelRequest(
        messages=(PromptMessage("system", TITLE_PROMPT), PromptMessage("user", query)), purpose="title"
    )
    try:
        text, _usage = await collect(model, request)
    except Exception as exc:
        log.info("title generation failed: %s", exc)
        return None
    title = " ".join(text.strip().strip('"').split())
    return title[:255] or None


async def suggest_questions(model: ChatModel, history: list[tuple[str, str]]) -> list[str]:
    """Up to three follow-up questions from the last exchanges (query, answer)."""
    if not history:
        return []
    if isinstance(model, BuiltinModel):
        return suggestions_for(history[-1][0])
    transcript = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history)
    request = ModelRequest(
        messages=(PromptMessage("system", SUGGEST_PROMPT), PromptMessage("user", transcript)),
        purpose="suggestions",
    )
    text, _usage = await collect(model, request)
    lines = [line.strip().lstrip("-*0123456789. ").strip() for line in text.splitlines()]
    return [line for line in lines if line][:3]
