"""Embeddings, rerank and image generation, routed like chat models (`impl.providers.routing`).

- `EmbeddingModel.embed(texts)` -> one vector per text: OpenAI-compatible `POST /embeddings`, or
  the builtin model (a deterministic hashed bag of words, 64 dimensions, unit length).
- `RerankModel.rerank(query, documents, top_n)` -> (index, score) best first: the Jina/Cohere
  shape `POST /rerank` (`results[].index/relevance_score`) where the route says the provider
  serves it (`rerank = true`), or the builtin word-overlap score.
- `generate_images(resolved, prompt, …)`: OpenAI-compatible `POST /images/generations`.

Errors are the same `ProviderError`s as for chat (`error_for_status`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from impl.providers.base import CompletionRequestError, ModelCurrentlyNotSupportError, ProviderError
from impl.providers.openai_compatible import error_for_status, error_text
from impl.providers.routing import Resolved, active

BUILTIN_DIMENSIONS = 64
_WORDS = re.compile(r"\w+", re.UNICODE)


class EmbeddingModel(Protocol):
    @property
    def name(self) -> str: ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class RerankModel(Protocol):
    @property
    def name(self) -> str: ...

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> list[tuple[int, float]]: ...


async def _post(
    resolved: Resolved,
    path: str,
    body: dict[str, Any],
    timeout: float,
    transport: httpx.AsyncBaseTransport | None,
) -> Any:
    headers = {"Authorization": f"Bearer {resolved.api_key}"}
    try:
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            response = await client.post(f"{resolved.base_url}{path}", json=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise CompletionRequestError(f"The provider timed out: {exc.__class__.__name__}") from exc
    except httpx.HTTPError as exc:
        raise CompletionRequestError(f"The provider connection failed: {exc}") from exc
    if response.status_code >= 400:
        raise error_for_status(response.status_code, error_text(response.status_code, response.content))
    try:
        return response.json()
    except ValueError as exc:
        raise CompletionRequestError("The provider answered with something that is not JSON.") from exc


def _builtin_vector(text: str) -> list[float]:
    vector = [0.0] * BUILTIN_DIMENSIONS
    for word in _WORDS.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[digest[0] % BUILTIN_DIMENSIONS] += 1.0 if digest[1] % 2 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@dataclass
class BuiltinEmbeddings:
    name: str = "builtin-embedding"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [_builtin_vector(t) for t in texts]


@dataclass
class OpenAIEmbeddings:
    resolved: Resolved
    timeout: float = 60.0
    transport: httpx.AsyncBaseTransport | None = None

    @property
    def name(self) -> str:
        return self.resolved.model

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        data = await _post(
            self.resolved,
            "/embeddings",
            {"model": self.name, "input": list(texts)},
            self.timeout,
            self.transport,
        )
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list) or len(rows) != len(texts):
            raise CompletionRequestError("The embeddings answer does not hold one vector per text.")
        ordered = sorted(rows, key=lambda r: int(r.get("index") or 0))
        return [[float(x) for x in r.get("embedding") or []] for r in ordered]


@dataclass
class BuiltinRerank:
    name: str = "builtin-rerank"

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> list[tuple[int, float]]:
        wanted = set(_WORDS.findall(query.lower()))
        scores = []
        for i, doc in enumerate(documents):
            words = set(_WORDS.findall(doc.lower()))
            scores.append((i, len(wanted & words) / len(wanted) if wanted else 0.0))
        scores.sort(key=lambda s: (-s[1], s[0]))
        return scores[:top_n] if top_n else scores


@dataclass
class HttpRerank:
    resolved: Resolved
    timeout: float = 60.0
    transport: httpx.AsyncBaseTransport | None = None

    @property
    def name(self) -> str:
        return self.resolved.model

    async def rerank(
        self, query: str, documents: Sequence[str], top_n: int | None = None
    ) -> list[tuple[int, float]]:
        body: dict[str, Any] = {"model": self.name, "query": query, "documents": list(documents)}
        if top_n:
            body["top_n"] = top_n
        data = await _post(self.resolved, "/rerank", body, self.timeout, self.transport)
        rows = data.get("results") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise CompletionRequestError("The rerank answer has no results.")
        found = [(int(r["index"]), float(r.get("relevance_score") or r.get("score") or 0.0)) for r in rows]
        found.sort(key=lambda s: (-s[1], s[0]))
        return found


def build_embedding(provider: str, model: str) -> EmbeddingModel:
    resolved = active().resolve(provider, model)
    if resolved.backend == "builtin":
        return BuiltinEmbeddings()
    if resolved.backend != "openai":
        raise ModelCurrentlyNotSupportError(f"Provider '{provider}' serves no embeddings here.")
    return OpenAIEmbeddings(resolved)


def build_rerank(provider: str, model: str) -> RerankModel:
    resolved = active().resolve(provider, model)
    if resolved.backend == "builtin":
        return BuiltinRerank()
    if not resolved.rerank:
        raise ModelCurrentlyNotSupportError(f"Provider '{provider}' offers no rerank endpoint here.")
    return HttpRerank(resolved)


async def generate_images(
    resolved: Resolved,
    prompt: str,
    *,
    size: str = "1024x1024",
    n: int = 1,
    extra: dict[str, Any] | None = None,
    timeout: float = 120.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[bytes]:
    """PNG bytes of the images an OpenAI-compatible `/images/generations` endpoint makes."""
    body = {
        "model": resolved.model,
        "prompt": prompt,
        "size": size,
        "n": n,
        "response_format": "b64_json",
        **(extra or {}),
    }
    data = await _post(resolved, "/images/generations", body, timeout, transport)
    images: list[bytes] = []
    for row in (data.get("data") if isinstance(data, dict) else None) or []:
        if isinstance(row, dict) and row.get("b64_json"):
            try:
                images.append(base64.b64decode(row["b64_json"]))
            except ValueError as exc:
                raise CompletionRequestError("The image answer is not valid base64.") from exc
        elif isinstance(row, dict) and row.get("url"):
            async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
                try:
                    got = await client.get(str(row["url"]))
                except httpx.HTTPError as exc:
                    raise CompletionRequestError(f"Could not download the generated image: {exc}") from exc
            images.append(got.content)
    if not images:
        raise CompletionRequestError("The provider returned no image.")
    return images


__all__ = [
    "BuiltinEmbeddings",
    "BuiltinRerank",
    "EmbeddingModel",
    "HttpRerank",
    "OpenAIEmbeddings",
    "ProviderError",
    "RerankModel",
    "build_embedding",
    "build_rerank",
    "generate_images",
]
