"""The knowledge configuration: the TOML file, the DIFY_DATASET_<ID> variables, the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from impl.knowledge.config import env_name, load
from impl.knowledge.text import chunk, terms

DATASET = "6f1c0a57-1111-4222-8333-944455556666"


def test_the_file_maps_datasets_to_folders_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    config_file = tmp_path / "knowledge.toml"
    config_file.write_text(
        f"""
[datasets."{DATASET}"]
name = "Manual"
path = "kb"
search = "semantic"
embedding_provider = "openai"
embedding_model = "text-embedding-3-small"
top_k = 4
score_threshold = 0.25
"""
    )
    config = load({"DIFY_KNOWLEDGE": str(config_file)})
    dataset = config.get(DATASET)
    assert dataset is not None and dataset.name == "Manual"
    assert dataset.paths == ((tmp_path / "kb").resolve(),)
    assert (dataset.search, dataset.top_k, dataset.score_threshold) == ("semantic", 4, 0.25)
    assert dataset.settings_key.endswith("semantic:openai/text-embedding-3-small")
    # a variable replaces the path of a dataset the file names, or adds a keyword dataset
    other = tmp_path / "other"
    env = {
        "DIFY_KNOWLEDGE": str(config_file),
        env_name(DATASET): str(other),
        "DIFY_DATASET_ABC_1": str(other),
    }
    config = load(env)
    replaced = config.get(DATASET)
    assert replaced is not None and replaced.paths == (other.resolve(),) and replaced.name == "Manual"
    added = config.get("abc-1")
    assert added is not None and added.search == "keyword" and added.name == "other" and added.top_k == 2


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('name = "x"', "path is required"),
        ('path = "kb"\nsearch = "fuzzy"', "search must be keyword or semantic"),
        ('path = "kb"\nsearch = "semantic"', "semantic search needs embedding_provider"),
        ('path = "kb"\ntop_k = 0', "top_k must be an integer of at least 1"),
        ('path = "kb"\nchunk_size = 100\nchunk_overlap = 100', "chunk_overlap must be smaller"),
        ('path = "kb"\nscore_threshold = "high"', "score_threshold must be a number"),
    ],
)
def test_a_malformed_file_is_refused_with_the_place(tmp_path: Path, table: str, fragment: str) -> None:
    config_file = tmp_path / "knowledge.toml"
    config_file.write_text(f'[datasets."d1"]\n{table}\n')
    with pytest.raises(ValueError, match=fragment) as caught:
        load({"DIFY_KNOWLEDGE": str(config_file)})
    assert "datasets.d1" in str(caught.value)
    config_file.write_text("[datasets\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load({"DIFY_KNOWLEDGE": str(config_file)})
    with pytest.raises(ValueError, match="cannot read"):
        load({"DIFY_KNOWLEDGE": str(tmp_path / "missing.toml")})


def test_terms_and_chunks() -> None:
    assert terms("Reset the X100, then 重置设备!") == ["reset", "the", "x100", "then", "重置", "置设", "设备"]
    text = "\n\n".join(f"Paragraph {i} says something about topic {i}." for i in range(40))
    chunks = chunk(text, 200, 40)
    assert len(chunks) > 5 and all(len(c) <= 200 for c in chunks)
    assert "Paragraph 0 " in chunks[0] and "Paragraph 39 " in chunks[-1]
    # neighbours overlap: a chunk starts with words the previous one ended with
    assert chunks[1].split()[0] in chunks[0].split()
    assert chunk("   ", 200, 40) == []
    assert [len(c) for c in chunk("x" * 450, 200, 0)] == [200, 200, 50]
