"""Which Dify datasets this server serves, and from which local files.

An app exported from Dify names its knowledge bases by Dify dataset id (knowledge-retrieval
nodes' `dataset_ids`, a chat app's `dataset_configs`). Those ids point into the Dify database
the app came from; here a TOML file named by `DIFY_KNOWLEDGE` maps each id to local files:

    [datasets."6f1c0a57-…"]              # the dataset id the DSL names
    name = "Product manual"              # shown as `dataset_name` (default: the folder's name)
    path = "/srv/kb/manual"              # a folder (read recursively) or one file; or a list
    description = "Setup and troubleshooting of the X100"   # helps single-mode routing
    search = "keyword"                   # keyword (BM25, offline; default) | semantic
    embedding_provider = "openai"        # semantic: a provider of the model routing
    embedding_model = "text-embedding-3-small"
    top_k = 3                            # the dataset's own top_k (single mode); default 2 as in Dify
    score_threshold = 0.2                # optional, single mode
    chunk_size = 800                     # characters per segment (default 800)
    chunk_overlap = 80                   # characters shared by neighbouring segments (default 80)

The environment adds or overrides one mapping per dataset without a file:
`DIFY_DATASET_<ID>=<path>` where `<ID>` is the dataset id upper-cased with `-` as `_` (a relative
path is taken from the working directory). Files of the formats the document extractor reads are
indexed (text, Markdown, HTML, PDF, DOCX, XLSX, CSV, PPTX, EPUB, EML …); others are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from impl.env_toml import EnvToml, read_toml

CONFIG_ENV = "DIFY_KNOWLEDGE"
DATASET_ENV_PREFIX = "DIFY_DATASET_"
Search = Literal["keyword", "semantic"]
DEFAULT_TOP_K = 2  # Dify's default_retrieval_model
DEFAULT_CHUNK_SIZE = 800
DEFAULT_CHUNK_OVERLAP = 80


@dataclass(frozen=True)
class DatasetConfig:
    id: str
    name: str
    paths: tuple[Path, ...]
    description: str = ""
    search: Search = "keyword"
    embedding_provider: str = ""
    embedding_model: str = ""
    top_k: int = DEFAULT_TOP_K
    score_threshold: float | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP

    @property
    def settings_key(self) -> str:
        """What the stored segments depend on besides the file (a change means re-index)."""
        model = f"{self.embedding_provider}/{self.embedding_model}" if self.search == "semantic" else ""
        return f"{self.chunk_size}:{self.chunk_overlap}:{self.search}:{model}"[:255]


@dataclass(frozen=True)
class KnowledgeConfig:
    datasets: Mapping[str, DatasetConfig] = field(default_factory=dict)
    source: str = ""

    def get(self, dataset_id: str) -> DatasetConfig | None:
        return self.datasets.get(dataset_id)


def env_name(dataset_id: str) -> str:
    return DATASET_ENV_PREFIX + "".join(ch if ch.isalnum() else "_" for ch in dataset_id).upper()


def _paths(raw: Any, base: Path, where: str) -> tuple[Path, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) and i.strip() for i in items):
        raise ValueError(f"{where}: path must be a folder or file path, or a list of them")
    return tuple((base / Path(i).expanduser()).resolve() for i in items)


def _int(table: Mapping[str, Any], key: str, default: int, where: str, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {key} must be an integer of at least {minimum}")
    return value


def _dataset(dataset_id: str, table: Mapping[str, Any], base: Path, where: str) -> DatasetConfig:
    if "path" not in table and "paths" not in table:
        raise ValueError(f"{where}: path is required (a folder or file)")
    paths = _paths(table.get("path", table.get("paths")), base, where)
    search = str(table.get("search") or "keyword")
    if search not in ("keyword", "semantic"):
        raise ValueError(f"{where}: search must be keyword or semantic, not {search!r}")
    provider = str(table.get("embedding_provider") or "")
    model = str(table.get("embedding_model") or "")
    if search == "semantic" and not (provider and model):
        raise ValueError(f"{where}: semantic search needs embedding_provider and embedding_model")
    threshold = table.get("score_threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        raise ValueError(f"{where}: score_threshold must be a number")
    chunk_size = _int(table, "chunk_size", DEFAULT_CHUNK_SIZE, where, 50)
    overlap = _int(table, "chunk_overlap", DEFAULT_CHUNK_OVERLAP, where, 0)
    if overlap >= chunk_size:
        raise ValueError(f"{where}: chunk_overlap must be smaller than chunk_size")
    return DatasetConfig(
        id=dataset_id,
        name=str(table.get("name") or paths[0].stem or dataset_id),
        paths=paths,
        description=str(table.get("description") or ""),
        search="semantic" if search == "semantic" else "keyword",
        embedding_provider=provider,
        embedding_model=model,
        top_k=_int(table, "top_k", DEFAULT_TOP_K, where, 1),
        score_threshold=float(threshold) if threshold is not None else None,
        chunk_size=chunk_size,
        chunk_overlap=overlap,
    )


def parse_config(
    data: Mapping[str, Any], env: Mapping[str, str], *, base: Path, where: str = "knowledge"
) -> KnowledgeConfig:
    raw = data.get("datasets") or {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: [datasets] must hold one table per dataset id")
    datasets: dict[str, DatasetConfig] = {}
    for dataset_id, table in raw.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"{where}: datasets.{dataset_id} must be a table")
        datasets[str(dataset_id)] = _dataset(str(dataset_id), table, base, f"{where}: datasets.{dataset_id}")
    # Environment overrides: the path of a dataset the file names, or a new keyword dataset.
    known = {env_name(i): i for i in datasets}
    for key, value in env.items():
        if not key.startswith(DATASET_ENV_PREFIX) or not value.strip():
            continue
        dataset_id = known.get(key) or key[len(DATASET_ENV_PREFIX) :].lower().replace("_", "-")
        paths = _paths(value, Path.cwd(), key)
        current = datasets.get(dataset_id)
        if current is not None:
            datasets[dataset_id] = DatasetConfig(**{**current.__dict__, "paths": paths})
        else:
            datasets[dataset_id] = DatasetConfig(dataset_id, paths[0].stem or dataset_id, paths)
    return KnowledgeConfig(datasets=datasets, source=where)


def load(env: Mapping[str, str] | None = None) -> KnowledgeConfig:
    """The mapping in force: the `DIFY_KNOWLEDGE` file (relative paths from its folder) and the
    `DIFY_DATASET_<ID>` variables. `ValueError` with the place when it is malformed."""
    env = dict(os.environ if env is None else env)
    path = env.get(CONFIG_ENV)
    if not path:
        return parse_config({}, env, base=Path.cwd(), where="knowledge")
    base = Path(path).expanduser().resolve().parent
    return parse_config(read_toml(CONFIG_ENV, path), env, base=base, where=path)


_config = EnvToml(CONFIG_ENV, lambda name: name.startswith(DATASET_ENV_PREFIX), load)


def active() -> KnowledgeConfig:
    """The configuration of this environment, reloaded when the file or a variable changes."""
    return _config.current()
