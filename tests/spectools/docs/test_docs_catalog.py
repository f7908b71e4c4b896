"""Translation catalogs: the real ones are complete, and the tooling flags what it should."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _docs_paths import DOCS, MINI_SPEC, SPEC

from spectools.docs import check_catalogs
from spectools.docs.catalog import Catalog, load_json, main, merge, scaffold, source_hash, spec_sources
from spectools.docs.render import Site
from spectools.docs.spec import load_bundle


def test_real_catalogs_are_complete_and_fresh() -> None:
    problems = check_catalogs(SPEC, DOCS)
    assert problems == [], f"{len(problems)} problems, first: {problems[:15]}"


def _mini(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "spec"
    shutil.copytree(MINI_SPEC, spec)
    docs = tmp_path / "docs"
    (docs / "i18n").mkdir(parents=True)
    (docs / "i18n" / "en.json").write_text(json.dumps({"ui.hello": "Hello `user`"}), encoding="utf-8")
    shutil.copytree(DOCS / "templates", docs / "templates")
    return spec, docs


def test_keys_are_stable_ids_not_positions() -> None:
    keys = spec_sources(load_bundle(MINI_SPEC))
    assert keys["getConversations#/parameters/limit/description"] == "Page size."
    assert keys["sendChatMessage#/summary"] == "Send a chat message"
    assert (
        keys["openapi#/components/schemas/ChatRequest/properties/query/description"]
        == "The end user's message."
    )
    assert keys["openapi#/x-error-codes/not_chat_app/description"].startswith("The app's mode")
    assert keys["events#/$defs/message/description"] == "A piece of the answer text."
    assert keys["tag#Chat"] == "Chat"
    # Wire literals are never extracted.
    assert not any("/example" in k or "/enum" in k or "/default" in k for k in keys)


def test_missing_stale_unused_and_literals_are_flagged(tmp_path: Path) -> None:
    spec, docs = _mini(tmp_path)
    assert any(p == "zh: missing ui.hello" for p in check_catalogs(spec, docs))
    added = scaffold(spec, docs, "zh")
    assert added == len(load_json(docs / "i18n" / "zh.json"))
    # Stubs carry no hash: still flagged until translated.
    assert any(p.startswith("zh: stale ui.hello") for p in check_catalogs(spec, docs))

    sources = {**spec_sources(load_bundle(spec)), "ui.hello": "Hello `user`"}
    for lang in ("zh", "ja"):
        merge(spec, docs, lang, {k: f"[{lang}] {v}" for k, v in sources.items()})
    assert check_catalogs(spec, docs) == []

    merge(spec, docs, "ja", {"ui.hello": "こんにちは ユーザー"})
    assert check_catalogs(spec, docs) == ["ja: ui.hello drops wire literal(s) `user`"]
    merge(spec, docs, "ja", {"ui.hello": "こんにちは `user`"})

    oa = spec / "openapi.yaml"
    oa.write_text(oa.read_text(encoding="utf-8").replace("Page size.", "How many items per page."), "utf-8")
    problems = check_catalogs(spec, docs)
    assert "zh: stale getConversations#/parameters/limit/description" in problems
    assert "ja: stale getConversations#/parameters/limit/description" in problems

    entries = load_json(docs / "i18n" / "zh.json")
    entries["gone#/summary"] = {"text": "x", "source_hash": "0"}
    (docs / "i18n" / "zh.json").write_text(json.dumps(entries), encoding="utf-8")
    assert "zh: unused gone#/summary" in check_catalogs(spec, docs)


def test_stale_translation_falls_back_to_english(tmp_path: Path) -> None:
    spec, docs = _mini(tmp_path)
    key = "sendChatMessage#/summary"
    catalog = {key: {"text": "发送对话消息", "source_hash": source_hash("Send a chat message")}}
    (docs / "i18n" / "zh.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    text, t = Site.load(spec, docs).render("zh", "chat", "html")
    assert "发送对话消息" in text
    assert key not in t.fallbacks
    catalog[key]["source_hash"] = source_hash("an older English text")
    (docs / "i18n" / "zh.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    text, t = Site.load(spec, docs).render("zh", "chat", "html")
    assert "发送对话消息" not in text and "Send a chat message" in text
    assert key in t.fallbacks
    assert Catalog.load(docs, "zh").lookup(key, "Send a chat message") is None


def test_cli_missing_lists_keys(tmp_path: Path, capsys: object) -> None:
    spec, docs = _mini(tmp_path)
    assert main(["--spec-dir", str(spec), "--docs-dir", str(docs), "--missing", "ja", "--json"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    todo = json.loads(out)
    assert todo["ui.hello"] == "Hello `user`"
    assert main(["--spec-dir", str(spec), "--docs-dir", str(docs), "--check"]) == 1


def test_code_spans_may_wrap_across_lines() -> None:
    from spectools.docs.catalog import code_spans

    english = 'ends with `data.status:\n  failed` then `error`.\n\n```json\n{"a": 1}\n```\n'
    assert code_spans(english) == ["data.status: failed", "error", '{"a": 1}']
    assert code_spans(
        '以 `data.status: failed` 结束，然后是 `error`。\n```json\n{"a": 1}\n```'
    ) == code_spans(english)
