"""Indexing: the files of each mapped dataset, chunked into segments in the database.

`index_dataset` brings one dataset's rows in line with its files: a file seen for the first time
or whose content (sha-256) or segment settings changed is extracted (the document extractor of
`impl.engine.nodes.documents`), chunked (`impl.knowledge.text`) and, for semantic datasets,
embedded through the routed embedding model; files that are gone lose their rows; unchanged
files are left alone. `index_all` does it for every dataset of the configuration (the server on
startup, `dify-service knowledge index`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, select

from impl.db.engine import Database
from impl.db.knowledge_models import KnowledgeDocument, KnowledgeSegment
from impl.db.models import utcnow
from impl.engine.nodes.documents import BY_EXTENSION, extract
from impl.knowledge.config import DatasetConfig, KnowledgeConfig
from impl.knowledge.text import chunk, term_counts, word_count
from impl.providers.embeddings import EmbeddingModel, ProviderError, build_embedding

log = logging.getLogger("impl.knowledge")
EMBED_BATCH = 32


@dataclass
class IndexReport:
    dataset_id: str
    name: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    segments: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.dataset_id} ({self.name}): {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.removed} removed; {self.segments} segments"
        )
        return text + (f"; {len(self.failed)} failed" if self.failed else "")


def dataset_files(dataset: DatasetConfig) -> tuple[list[Path], list[str]]:
    """The readable files of a dataset (sorted, hidden ones left out) and what is missing."""
    files: list[Path] = []
    missing: list[str] = []
    for root in dataset.paths:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root).parts
                hidden = any(p.startswith(".") for p in relative)
                if path.is_file() and not hidden and path.suffix.lower() in BY_EXTENSION:
                    files.append(path)
        else:
            missing.append(f"{root}: no such file or folder")
    return files, missing


def _segments_of(content: bytes, path: Path, dataset: DatasetConfig) -> list[str]:
    text = extract(content, path.suffix.lower(), None)
    return chunk(text, dataset.chunk_size, dataset.chunk_overlap)


async def _embed(model: EmbeddingModel, texts: Sequence[str]) -> list[list[float]]:
    vectors: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(await model.embed(texts[start : start + EMBED_BATCH]))
    return vectors


async def index_dataset(db: Database, dataset: DatasetConfig) -> IndexReport:
    report = IndexReport(dataset.id, dataset.name)
    files, missing = await asyncio.to_thread(dataset_files, dataset)
    report.failed.extend(missing)
    async with db.session() as session:
        rows = (
            await session.scalars(select(KnowledgeDocument).where(KnowledgeDocument.dataset_id == dataset.id))
        ).all()
    existing = {row.path: row for row in rows}
    embedder: EmbeddingModel | None = None
    if dataset.search == "semantic":
        try:
            embedder = build_embedding(dataset.embedding_provider, dataset.embedding_model)
        except ProviderError as exc:
            report.failed.append(f"embedding model: {exc.message}")
            return report
    seen: set[str] = set()
    for path in files:
        key = str(path)
        seen.add(key)
        try:
            content = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            report.failed.append(f"{path}: {exc}")
            continue
        digest = hashlib.sha256(content).hexdigest()
        row = existing.get(key)
        if row is not None and row.content_hash == digest and row.settings_key == dataset.settings_key:
            report.unchanged += 1
            report.segments += row.segment_count
            continue
        try:
            pieces = await asyncio.to_thread(_segments_of, content, path, dataset)
            vectors = await _embed(embedder, pieces) if embedder is not None and pieces else None
        except Exception as exc:  # a file that cannot be read or embedded is reported, not fatal
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            report.failed.append(f"{path}: {message}")
            log.warning("knowledge: %s: %s", path, message)
            continue
        async with db.transaction() as session:
            if row is not None:
                await session.execute(delete(KnowledgeSegment).where(KnowledgeSegment.document_id == row.id))
                document = await session.get(KnowledgeDocument, row.id)
                assert document is not None
                report.updated += 1
            else:
                document = KnowledgeDocument(dataset_id=dataset.id, path=key)
                session.add(document)
                report.added += 1
            document.name = path.name
            document.size = len(content)
            document.content_hash = digest
            document.settings_key = dataset.settings_key
            document.segment_count = len(pieces)
            document.error = None
            document.indexed_at = utcnow()
            await session.flush()
            for position, piece in enumerate(pieces, start=1):
                session.add(
                    KnowledgeSegment(
                        dataset_id=dataset.id,
                        document_id=document.id,
                        position=position,
                        content=piece,
                        word_count=word_count(piece),
                        content_hash=hashlib.sha256(piece.encode()).hexdigest(),
                        terms=term_counts(piece),
                        embedding=vectors[position - 1] if vectors is not None else None,
                    )
                )
        report.segments += len(pieces)
    gone = [row.id for path, row in existing.items() if path not in seen]
    if gone:
        async with db.transaction() as session:
            await session.execute(delete(KnowledgeSegment).where(KnowledgeSegment.document_id.in_(gone)))
            await session.execute(delete(KnowledgeDocument).where(KnowledgeDocument.id.in_(gone)))
        report.removed = len(gone)
    return report


async def index_all(db: Database, config: KnowledgeConfig) -> list[IndexReport]:
    """Index every mapped dataset; rows of datasets no longer mapped are dropped."""
    reports = [await index_dataset(db, dataset) for dataset in config.datasets.values()]
    async with db.transaction() as session:
        stale = select(KnowledgeDocument.id).where(KnowledgeDocument.dataset_id.not_in(list(config.datasets)))
        ids = list((await session.scalars(stale)).all())
        if ids:
            await session.execute(delete(KnowledgeSegment).where(KnowledgeSegment.document_id.in_(ids)))
            await session.execute(delete(KnowledgeDocument).where(KnowledgeDocument.id.in_(ids)))
    return reports
