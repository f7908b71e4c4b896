"""Indexing local files into the database and searching them, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import docx
import pytest
from support.postgres import PostgresCluster

from impl.db import migrate
from impl.db.engine import Database
from impl.knowledge import DatasetConfig, KnowledgeConfig, LocalKnowledge, index_all, index_dataset

_PG_DATABASES = iter(f"dify_kn_{i}" for i in range(1000))

TEA = "Green tea is steeped at 80 degrees for two minutes. Black tea wants boiling water."
BIKES = "To fix a flat bicycle tyre, remove the wheel, find the puncture and patch the tube."
TRAINS = "The night train leaves the central station at 23:10 and arrives at dawn."


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'dify.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database(next(_PG_DATABASES))
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    (folder / "tea.md").write_text(f"# Tea\n\n{TEA}\n")
    (folder / "sub" / "trains.txt").write_text(TRAINS)
    (folder / ".hidden.txt").write_text("tea tea tea")  # hidden files are not indexed
    (folder / "image.png").write_bytes(b"\x89PNG")  # neither are formats the extractor does not read
    document = docx.Document()
    document.add_paragraph(BIKES)
    document.save(str(folder / "bikes.docx"))
    return folder


def _config(dataset: DatasetConfig) -> KnowledgeConfig:
    return KnowledgeConfig({dataset.id: dataset})


async def test_keyword_search_ranks_the_matching_segment_first(database: Database, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    dataset = DatasetConfig("ds-1", "Handbook", (folder,), top_k=2)
    report = await index_dataset(database, dataset)
    assert (report.added, report.updated, report.unchanged, report.removed, report.failed) == (3, 0, 0, 0, [])
    kb = LocalKnowledge(database, lambda: _config(dataset))
    assert [d.id for d in await kb.available(["nope", "ds-1"])] == ["ds-1"]
    found = await kb.search("ds-1", "how do I patch a bicycle tube?", 2, None)
    assert [p.document_name for p in found] == ["bikes.docx"]  # segments sharing no term are left out
    best = found[0]
    assert best.content == BIKES and 0 < best.score < 1 and best.dataset_name == "Handbook"
    assert best.segment_position == 1 and best.word_count == 16 and best.hit_count == 0
    assert [p.document_name for p in await kb.search("ds-1", "tea or station", 3, None)] == [
        "tea.md",
        "trains.txt",
    ]
    strong = await kb.search("ds-1", "green tea minutes", 3, None)
    assert await kb.search("ds-1", "green tea minutes", 3, strong[0].score + 0.01) == []
    await kb.record_hits([best.segment_id])
    again = await kb.search("ds-1", "bicycle", 1, None)
    assert again[0].hit_count == 1


async def test_reindexing_follows_the_files(database: Database, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    dataset = DatasetConfig("ds-1", "Handbook", (folder,))
    await index_dataset(database, dataset)
    report = await index_dataset(database, dataset)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 0, 3, 0)
    (folder / "tea.md").write_text("Oolong is rolled and partly oxidised.")
    (folder / "sub" / "trains.txt").unlink()
    (folder / "broken.pdf").write_bytes(b"not a pdf")
    report = await index_dataset(database, dataset)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 1, 1)
    assert len(report.failed) == 1 and "broken.pdf" in report.failed[0]
    kb = LocalKnowledge(database, lambda: _config(dataset))
    assert await kb.search("ds-1", "night train", 3, None) == []
    assert [p.content for p in await kb.search("ds-1", "oolong", 3, None)] == [
        "Oolong is rolled and partly oxidised."
    ]
    # a dataset that is no longer mapped loses its rows; one with no readable file is unavailable
    empty = DatasetConfig("ds-2", "Empty", (tmp_path / "missing",))
    reports = await index_all(database, _config(empty))
    assert reports[0].failed == [f"{tmp_path / 'missing'}: no such file or folder"]
    kb = LocalKnowledge(database, lambda: KnowledgeConfig({"ds-1": dataset, "ds-2": empty}))
    assert await kb.available(["ds-1", "ds-2"]) == []


async def test_semantic_search_uses_the_routed_embeddings(database: Database, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    dataset = DatasetConfig(
        "ds-s", "Semantic", (folder,), search="semantic", embedding_provider="builtin", embedding_model="e"
    )
    report = await index_dataset(database, dataset)
    assert report.segments == 3 and report.failed == []
    kb = LocalKnowledge(database, lambda: _config(dataset))
    found = await kb.search("ds-s", "night train central station", 3, None)
    assert found[0].document_name == "trains.txt" and all(found[0].score > p.score for p in found[1:])
    unrouted = DatasetConfig(
        "ds-u", "Nowhere", (folder,), search="semantic", embedding_provider="nowhere", embedding_model="e"
    )
    report = await index_dataset(database, unrouted)
    assert report.segments == 0 and "not configured on this server" in report.failed[0]
