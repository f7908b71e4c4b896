"""Translation catalogs: extraction of English source text, hashes, checks and a small CLI.

Sources of English text:

* the spec: every string at a `description`, `summary` or `title` key of `openapi.yaml` and
  `events.schema.json` (examples, defaults, enums and consts are wire literals and are never
  extracted), plus each tag name (`tag#<name>`);
* `docs/i18n/en.json`: UI strings (`ui.*`) and the prose of the topic pages (`topic.*`).

`docs/i18n/<lang>.json` maps each key to `{"text": <translation>, "source_hash": <hash of the
English it was made from>}`.  An entry is *missing* when the key has none, *stale* when the
hash differs from the current English, and *unused* when its key no longer exists.  A
translation must keep every `` `code` `` span of the English verbatim (wire literals).

    python -m spectools.docs.catalog --missing zh    # list missing and stale keys with their English
    python -m spectools.docs.catalog --scaffold zh   # add missing keys (English text, empty hash) to edit
    python -m spectools.docs.catalog --check         # every problem, exit 1 if any
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spectools.docs.spec import Loc, SpecBundle, load_bundle, text_key

LANGS: tuple[str, ...] = ("en", "zh", "ja")
TRANSLATED_LANGS: tuple[str, ...] = ("zh", "ja")
TEXT_KEYS = frozenset({"description", "summary", "title"})
LITERAL_KEYS = frozenset(
    {
        "example",
        "default",
        "enum",
        "const",
        "value",
        "externalValue",
        "x-app-modes",
        "operations",
        "required",
        "x-mode-error",
        "x-sse-events",
        "$ref",
    }
)
# Text for spec authors that no page shows (the events file's own preamble, the API title).
_NOT_SHOWN = frozenset({("description",), ("title",), ("info", "title")})
# A code span may wrap across a line break (YAML folds long descriptions); compare it with its
# white space collapsed, as Markdown renders it.
_CODE_SPAN = re.compile(r"`([^`]+)`")
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _walk(node: Any, loc: Loc, names: bool = False) -> Iterator[tuple[Loc, str]]:
    """Texts under `node`; `names` says the keys are property names (a `properties` map), so a
    property called `default`, `required` or `value` is walked like any other schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            k = str(key)
            if names:
                yield from _walk(value, loc.child(k))
            elif k in ("properties", "patternProperties") and isinstance(value, dict):
                yield from _walk(value, loc.child(k), names=True)
            elif k in TEXT_KEYS and isinstance(value, str) and value.strip():
                yield loc.child(k), value
            elif k in LITERAL_KEYS or k == "examples" and not isinstance(value, dict):
                continue
            else:
                yield from _walk(value, loc.child(k))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, loc.child(i))


def spec_sources(bundle: SpecBundle) -> dict[str, str]:
    """Every translatable English string of the spec, keyed by its stable id."""
    out: dict[str, str] = {}
    for doc in ("openapi", "events"):
        for loc, text in _walk(bundle.doc(doc), Loc(doc)):
            if loc.tokens in _NOT_SHOWN:
                continue
            out[text_key(bundle, loc)] = text
    for tag in _tag_names(bundle):
        out[f"tag#{tag}"] = tag
    return out


def _tag_names(bundle: SpecBundle) -> list[str]:
    names: list[str] = []
    for tag in bundle.openapi.get("tags") or []:
        if isinstance(tag, dict) and tag.get("name"):
            names.append(str(tag["name"]))
    for op in bundle.operations:
        names.extend(t for t in op.tags if t not in names)
    return names


def load_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def save_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(sorted(data.items())), ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


@dataclass
class Sources:
    """All English source strings: the spec's and the docs' own (`docs/i18n/en.json`)."""

    spec: dict[str, str]
    ui: dict[str, str]

    @property
    def all(self) -> dict[str, str]:
        return {**self.ui, **self.spec}


def load_sources(bundle: SpecBundle, docs_dir: Path) -> Sources:
    ui = {k: str(v) for k, v in load_json(docs_dir / "i18n" / "en.json").items()}
    return Sources(spec_sources(bundle), ui)


class Catalog:
    """One language's translations; `lookup` returns the text only when present and fresh."""

    def __init__(self, lang: str, entries: dict[str, Any]) -> None:
        self.lang = lang
        self.entries = entries

    @classmethod
    def load(cls, docs_dir: Path, lang: str) -> Catalog:
        if lang == "en":
            return cls(lang, {})
        return cls(lang, load_json(docs_dir / "i18n" / f"{lang}.json"))

    def lookup(self, key: str, english: str) -> str | None:
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        text = entry.get("text")
        if not isinstance(text, str) or not text or entry.get("source_hash") != source_hash(english):
            return None
        return text


def code_spans(text: str) -> list[str]:
    """Wire literals of a text: inline code spans and the bodies of fenced code blocks."""
    fences = [body.strip() for body in _FENCE.findall(text)]
    spans = [" ".join(span.split()) for span in _CODE_SPAN.findall(_FENCE.sub("", text))]
    return sorted(fences + spans)


def catalog_problems(sources: dict[str, str], catalog: Catalog) -> list[str]:
    problems: list[str] = []
    lang = catalog.lang
    for key, english in sorted(sources.items()):
        entry = catalog.entries.get(key)
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"]:
            problems.append(f"{lang}: missing {key}")
            continue
        if entry.get("source_hash") != source_hash(english):
            problems.append(f"{lang}: stale {key}")
            continue
        missing = [s for s in code_spans(english) if s not in code_spans(entry["text"])]
        if missing:
            problems.append(
                f"{lang}: {key} drops wire literal(s) {', '.join('`' + m + '`' for m in missing)}"
            )
    for key in sorted(set(catalog.entries) - set(sources)):
        problems.append(f"{lang}: unused {key}")
    return problems


def check_catalogs(spec_dir: Path, docs_dir: Path) -> list[str]:
    """Every missing, stale or unused catalog entry and every dropped wire literal; empty = ok."""
    bundle = load_bundle(spec_dir)
    sources = load_sources(bundle, docs_dir).all
    problems = [f"spec: {p}" for p in bundle.problems]
    for lang in TRANSLATED_LANGS:
        problems.extend(catalog_problems(sources, Catalog.load(docs_dir, lang)))
    return problems


def scaffold(spec_dir: Path, docs_dir: Path, lang: str, prune: bool = False) -> int:
    """Add every missing key to `<lang>.json` with a memory match or the English as a stub.

    A stub has an empty `source_hash`, so it stays flagged until someone translates it and
    runs `--stamp`.  A key whose English equals that of an already fresh entry is filled from
    it (translation memory) and stamped.
    """
    bundle = load_bundle(spec_dir)
    sources = load_sources(bundle, docs_dir).all
    path = docs_dir / "i18n" / f"{lang}.json"
    entries = load_json(path)
    memory: dict[str, str] = {}
    for key, entry in entries.items():
        if (
            key in sources
            and isinstance(entry, dict)
            and entry.get("source_hash") == source_hash(sources[key])
        ):
            memory.setdefault(sources[key], str(entry.get("text", "")))
    added = 0
    for key, english in sources.items():
        if key in entries:
            continue
        if english in memory:
            entries[key] = {"text": memory[english], "source_hash": source_hash(english)}
        else:
            entries[key] = {"text": english, "source_hash": "", "en": english}
        added += 1
    if prune:
        for key in set(entries) - set(sources):
            del entries[key]
    save_json(path, entries)
    return added


def stamp(spec_dir: Path, docs_dir: Path, lang: str, keys: list[str] | None = None) -> int:
    """Record the current English hash on entries (all, or `keys`) after reviewing them."""
    bundle = load_bundle(spec_dir)
    sources = load_sources(bundle, docs_dir).all
    path = docs_dir / "i18n" / f"{lang}.json"
    entries = load_json(path)
    count = 0
    for key, entry in entries.items():
        if key in sources and isinstance(entry, dict) and (keys is None or key in keys):
            entry["source_hash"] = source_hash(sources[key])
            entry.pop("en", None)
            count += 1
    save_json(path, entries)
    return count


def merge(spec_dir: Path, docs_dir: Path, lang: str, translations: dict[str, str]) -> int:
    """Write `translations` (key -> text) into `<lang>.json`, stamped with the current hashes."""
    bundle = load_bundle(spec_dir)
    sources = load_sources(bundle, docs_dir).all
    path = docs_dir / "i18n" / f"{lang}.json"
    entries = load_json(path)
    count = 0
    for key, text in translations.items():
        if key in sources:
            entries[key] = {"text": text, "source_hash": source_hash(sources[key])}
            count += 1
    save_json(path, entries)
    return count


def main(argv: list[str] | None = None) -> int:
    root = Path.cwd()
    parser = argparse.ArgumentParser(
        prog="python -m spectools.docs.catalog", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--spec-dir", type=Path, default=root / "spec")
    parser.add_argument("--docs-dir", type=Path, default=root / "docs")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--missing", metavar="LANG", help="list missing and stale keys with their English")
    group.add_argument("--scaffold", metavar="LANG", help="add missing keys as English stubs")
    group.add_argument("--stamp", metavar="LANG", help="record current English hashes (after review)")
    group.add_argument("--merge", nargs=2, metavar=("LANG", "FILE"), help="merge a {key: text} JSON file")
    group.add_argument("--check", action="store_true", help="all problems; exit 1 if any")
    parser.add_argument("--prune", action="store_true", help="with --scaffold: drop unused keys")
    parser.add_argument("--json", action="store_true", help="with --missing: print {key: english} JSON")
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.check:
        problems = check_catalogs(args.spec_dir, args.docs_dir)
        for p in problems:
            out.write(p + "\n")
        return 1 if problems else 0
    if args.missing:
        bundle = load_bundle(args.spec_dir)
        sources = load_sources(bundle, args.docs_dir).all
        catalog = Catalog.load(args.docs_dir, args.missing)
        todo = {k: v for k, v in sorted(sources.items()) if catalog.lookup(k, v) is None}
        if args.json:
            out.write(json.dumps(todo, ensure_ascii=False, indent=1) + "\n")
        else:
            for key, english in todo.items():
                state = "stale" if key in catalog.entries else "missing"
                out.write(f"{state}\t{key}\t{english!r}\n")
        return 0
    if args.scaffold:
        n = scaffold(args.spec_dir, args.docs_dir, args.scaffold, prune=args.prune)
        out.write(f"added {n} keys to {args.scaffold}.json\n")
        return 0
    if args.stamp:
        n = stamp(args.spec_dir, args.docs_dir, args.stamp)
        out.write(f"stamped {n} entries of {args.stamp}.json\n")
        return 0
    lang, file = args.merge
    n = merge(args.spec_dir, args.docs_dir, lang, json.loads(Path(file).read_text(encoding="utf-8")))
    out.write(f"merged {n} entries into {lang}.json\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
