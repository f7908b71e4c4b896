"""Searching the local knowledge bases, and the engine's `KnowledgeBase` over them.

- keyword (the default, offline): Okapi BM25 over the segments' term counts (k1 1.5, b 0.75),
  scaled into [0, 1) by the score a segment would reach if it held every query term without
  bound, so a `score_threshold` means the same whatever else the dataset holds;
- semantic: the cosine similarity of the query's embedding (the dataset's routed embedding
  model) with each segment's stored embedding.

`LocalKnowledge` answers the knowledge-retrieval node: a dataset is available when the
configuration maps it and it has indexed segments (Dify's "available document count" rule).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from impl.db.engine import Database
from impl.db.knowledge_models import KnowledgeDocument, KnowledgeSegment
from impl.engine.nodes.knowledge import DatasetInfo, Passage
from impl.knowledge.config import DatasetConfig, KnowledgeConfig, active
from impl.knowledge.text import terms
from impl.providers.embeddings import build_embedding

K1 = 1.5
B = 0.75


@dataclass(frozen=True)
class Row:
    segment: KnowledgeSegment
    document_name: str


def bm25(query: str, rows: Sequence[Row]) -> list[float]:
    """A score in [0, 1) for each row (0 when it shares no term with the query)."""
    wanted = list(dict.fromkeys(terms(query)))
    if not wanted or not rows:
        return [0.0] * len(rows)
    n = len(rows)
    lengths = [max(1, r.segment.word_count) for r in rows]
    average = sum(lengths) / n
    df = Counter(t for r in rows for t in wanted if t in (r.segment.terms or {}))
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in wanted}
    ceiling = sum(idf[t] * (K1 + 1) for t in wanted) or 1.0
    scores = []
    for row, length in zip(rows, lengths, strict=True):
        counts: dict[str, Any] = row.segment.terms or {}
        total = 0.0
        for t in wanted:
            tf = float(counts.get(t) or 0)
            if tf:
                total += idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))
        scores.append(total / ceiling)
    return scores


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if not a or not b or len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class LocalKnowledge:
    """The datasets of the knowledge configuration, indexed in `db`."""

    def __init__(self, db: Database, config: Callable[[], KnowledgeConfig] = active) -> None:
        self.db = db
        self.config = config

    async def available(self, dataset_ids: Sequence[str]) -> list[DatasetInfo]:
        try:
            config = self.config()
        except ValueError:
            return []
        mapped = {i: config.get(i) for i in dataset_ids}
        wanted = [i for i, d in mapped.items() if d is not None]
        if not wanted:
            return []
        async with self.db.session() as session:
            counted = await session.execute(
                select(KnowledgeSegment.dataset_id, func.count(KnowledgeSegment.id))
                .where(KnowledgeSegment.dataset_id.in_(wanted))
                .group_by(KnowledgeSegment.dataset_id)
            )
            with_segments = {dataset_id for dataset_id, count in counted.all() if count}
        found: list[DatasetInfo] = []
        for dataset_id in dict.fromkeys(dataset_ids):
            d = mapped.get(dataset_id)
            if d is not None and dataset_id in with_segments:
                found.append(DatasetInfo(d.id, d.name, d.description, d.search, d.top_k, d.score_threshold))
        return found

    async def _rows(self, dataset_id: str) -> list[Row]:
        async with self.db.session() as session:
            result = await session.execute(
                select(KnowledgeSegment, KnowledgeDocument.name)
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeSegment.document_id)
                .where(KnowledgeSegment.dataset_id == dataset_id)
                .order_by(KnowledgeDocument.path, KnowledgeSegment.position)
            )
            return [Row(segment, name) for segment, name in result.all()]

    async def _scores(self, dataset: DatasetConfig, query: str, rows: list[Row]) -> list[float]:
        if dataset.search == "semantic":
            model = build_embedding(dataset.embedding_provider, dataset.embedding_model)
            [vector] = await model.embed([query])
            return [cosine(vector, r.segment.embedding or []) for r in rows]
        return bm25(query, rows)

    async def search(
        self, dataset_id: str, query: str, top_k: int, score_threshold: float | None
    ) -> list[Passage]:
        dataset = self.config().get(dataset_id)
        if dataset is None or top_k <= 0:
            return []
        rows = await self._rows(dataset_id)
        scored = [
            (s, r) for s, r in zip(await self._scores(dataset, query, rows), rows, strict=True) if s > 0
        ]
        if score_threshold is not None:
            scored = [(s, r) for s, r in scored if s >= score_threshold]
        scored.sort(key=lambda pair: -pair[0])  # stable: ties keep document order
        return [
            Passage(
                content=r.segment.content,
                score=round(s, 6),
                dataset_id=dataset.id,
                dataset_name=dataset.name,
                document_id=r.segment.document_id,
                document_name=r.document_name,
                segment_id=r.segment.id,
                segment_position=r.segment.position,
                word_count=r.segment.word_count,
                hit_count=r.segment.hit_count,
                index_node_hash=r.segment.content_hash,
            )
            for s, r in scored[:top_k]
        ]

    async def record_hits(self, segment_ids: Sequence[str]) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(KnowledgeSegment)
                .where(KnowledgeSegment.id.in_(list(segment_ids)))
                .values(hit_count=KnowledgeSegment.hit_count + 1)
            )
