"""What issue 15 asked of the pages for readers: samples per response mode, coherent examples,
error codes per operation, implementation notes apart, Dify's terms, no English on zh/ja pages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _docs_paths import DOCS, SPEC

from spectools.docs.catalog import LANGS
from spectools.docs.pages import PAGES, OperationView
from spectools.docs.prose import check_prose, english_runs
from spectools.docs.render import Site
from spectools.docs.search import page_entries
from spectools.docs.spec import MODES


def _op(site: Site, mode: str, op_id: str, lang: str = "en") -> OperationView:
    site.render(lang, mode)
    builder = site._builders[(lang, "https://api.dify.ai/v1")]
    return next(op for op in builder.mode_page(mode).operations if op.id == op_id)


def test_generation_samples_come_per_response_mode(site: Site) -> None:
    kinds = {
        m: [s.kind for s in _op(site, m, "sendChatMessage").sample_sets] for m in ("chat", "advanced-chat")
    }
    assert kinds == {"chat": ["blocking", "streaming"], "advanced-chat": ["blocking", "streaming"]}
    agent = _op(site, "agent-chat", "sendChatMessage")
    assert [s.kind for s in agent.sample_sets] == ["streaming"]
    assert all('"response_mode": "blocking"' not in s.model for s in agent.sample_sets)
    # no blocking answer is shown on the agent page; the others show their own mode
    assert not [
        r for r in agent.responses if r.status == "200" and r.examples and r.examples[0].kind == "json"
    ]
    for mode in ("chat", "advanced-chat"):
        op = _op(site, mode, "sendChatMessage")
        answer = next(r for r in op.responses if r.status == "200" and r.content_type == "application/json")
        assert answer.examples[0].value["mode"] == mode


def test_streams_read_as_streams(site: Site) -> None:
    for mode in ("workflow", "advanced-chat"):
        op = _op(site, mode, "streamWorkflowEvents")
        (only,) = op.sample_sets
        assert "iter_lines()" in only.samples["python"] and ".json()" not in only.samples["python"]
        assert only.samples["curl"].startswith("curl -N ")
        assert "getReader()" in only.samples["javascript"]
    audio = _op(site, "chat", "textToAudioChat")
    (only,) = audio.sample_sets
    assert ".json()" not in only.samples["python"] and "-o 'speech.mp3'" in only.samples["curl"]


def test_example_streams_are_one_coherent_run(site: Site) -> None:
    for mode, op_id in (
        ("chat", "sendChatMessage"),
        ("completion", "createCompletionMessage"),
        ("workflow", "executeWorkflow"),
    ):
        op = _op(site, mode, op_id)
        stream = next(r for r in op.responses if r.is_stream)
        events = stream.examples[0].value
        assert len({e.get("task_id") for e in events if "task_id" in e}) == 1
        chunks = [
            e.get("answer") or (e.get("data") or {}).get("text")
            for e in events
            if e["event"] in ("message", "text_chunk")
        ]
        assert len(chunks) == len(set(chunks)) >= 2, chunks
        if mode == "workflow":
            started = next(e for e in events if e["event"] == "workflow_started")
            request = json.loads(op.sample_sets[-1].model)["json_body"]
            for name, value in request["inputs"].items():
                assert started["data"]["inputs"][name] == value


def test_every_operation_lists_its_error_codes_from_the_registry(site: Site) -> None:
    registry = site.bundle.error_codes
    for mode in MODES:
        site.render("en", mode)
        page = site._builders[("en", "https://api.dify.ai/v1")].mode_page(mode)
        for op in page.operations:
            # codes without an operation list apply to every operation
            expected = {c for c, e in registry.items() if op.id in (e.get("operations") or [op.id])}
            assert {row.code for row in op.error_codes} == expected, op.id
    html, _ = site.render("en", "chat")
    assert '<h3 id="sendChatMessage-errors">' in html
    assert "Error response 400" in html and "Error response 404" in html


def test_implementation_notes_are_in_one_box_not_in_the_api_text(site: Site) -> None:
    html, _ = site.render("en", "workflow")
    assert html.count('class="impl-notes"') == 1
    box = html[html.index('class="impl-notes"') :]
    assert "1200" in box and "created_by_account" in box
    text = html[html.index("<main") : html.index('class="impl-notes"')]
    for remark in ("reference server", "x-limits", "DEVIATIONS", " our server"):
        assert remark not in text, remark


def test_dify_product_terms() -> None:
    site = Site.load(SPEC, DOCS)
    zh = "".join(site.render("zh", p)[0] for p in PAGES)
    ja = "".join(site.render("ja", p)[0] for p in PAGES)
    assert "人工介入" in zh and "人工输入" not in zh
    for term in ("人間の入力", "チャットボット", "テキストジェネレーター", "Agent アプリ"):
        assert term in ja, term
    assert "人による入力" not in ja


def test_no_english_prose_on_translated_pages() -> None:
    assert check_prose(SPEC, DOCS) == []


def test_english_left_on_a_translated_page_is_found(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    catalog = json.loads((docs / "i18n" / "zh.json").read_text())
    del catalog["openapi#/components/schemas/FormControl/properties/required/description"]
    (docs / "i18n" / "zh.json").write_text(json.dumps(catalog, ensure_ascii=False))
    problems = check_prose(SPEC, docs)
    assert problems and all(p.startswith("zh/") for p in problems)
    assert any("Whether a value must be given" in p for p in problems)
    assert english_runs("<p>只有 <code>a long code span with words</code> 这里</p>") == []


def test_search_index_covers_every_page(built_site: Path) -> None:
    for lang in LANGS:
        text = (built_site / lang / "search-index.js").read_text()
        entries = json.loads(text.removeprefix("window.difyDocsIndex = ").rstrip().rstrip(";"))
        assert {e[0] for e in entries} == set(PAGES)
        assert any(e[1] == "sendChatMessage" for e in entries)
    page = "<main><h1>Page</h1><h2 id='a'>T</h2><p>body</p><pre>code</pre></main>"
    expected = [["x", "", "Page", "", "Page"], ["x", "a", "T", "body", "Page"]]
    assert page_entries("x", page) == expected
