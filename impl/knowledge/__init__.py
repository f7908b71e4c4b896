"""Local knowledge bases: Dify dataset ids mapped to local files, indexed and searched here.

`config` reads the mapping (`DIFY_KNOWLEDGE`, `DIFY_DATASET_<ID>`), `text` chunks and tokenises,
`index` keeps the database in line with the files, `search` answers the engine's
knowledge-retrieval node (`LocalKnowledge`). It sits above `impl.db`, `impl.providers` and the
engine (whose `KnowledgeBase` protocol it implements) and below the services.
"""

from impl.knowledge.config import CONFIG_ENV, DatasetConfig, KnowledgeConfig, active, env_name, load
from impl.knowledge.index import IndexReport, index_all, index_dataset
from impl.knowledge.search import LocalKnowledge

__all__ = [
    "CONFIG_ENV",
    "DatasetConfig",
    "IndexReport",
    "KnowledgeConfig",
    "LocalKnowledge",
    "active",
    "env_name",
    "index_all",
    "index_dataset",
    "load",
]
