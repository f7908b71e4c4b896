"""Page models: what each page shows, localized, before any template sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from spectools.docs.catalog import Catalog
from spectools.docs.samples import GENERATORS, RequestModel, fill_path, sse_text
from spectools.docs.schema_view import FieldRow, SchemaWalker
from spectools.docs.spec import MODES, Loc, Operation, SpecBundle, event_name
from spectools.docs.streams import (
    GrammarView,
    grammar_for_union,
    grammars,
    sample_stream,
    stitch,
    union_events,
    view,
)

TOPICS: tuple[str, ...] = (
    "authentication",
    "streaming",
    "errors",
    "files",
    "pagination",
    "tracing",
    "glossary",
)
PAGES: tuple[str, ...] = ("index", *MODES, *TOPICS)


class Translator:
    """Localizes by catalog key; remembers which keys fell back to English."""

    def __init__(self, lang: str, catalog: Catalog, ui: dict[str, str]) -> None:
        self.lang = lang
        self.catalog = catalog
        self.ui_sources = ui
        self.fallbacks: set[str] = set()

    def __call__(self, key: str, english: str) -> str:
        if self.lang == "en":
            return english
        text = self.catalog.lookup(key, english)
        if text is None:
            self.fallbacks.add(key)
            return english
        return text

    def ui(self, key: str, **fmt: Any) -> str:
        english = self.ui_sources.get(key)
        if english is None:
            self.fallbacks.add(key)
            return key
        text = self(key, english)
        return text.format(**fmt) if fmt else text


@dataclass
class JsonExample:
    """A JSON example as shown, with the schema (location) it must validate against."""

    title: str
    text: str
    value: Any
    schema_loc: Loc | None
    kind: str = "json"  # json | sse


@dataclass
class ResponseView:
    status: str
    description: str
    content_type: str
    fields: list[FieldRow]
    examples: list[JsonExample]
    is_stream: bool = False
    anchor: str = ""


@dataclass
class SampleSet:
    """The three samples of one way to call an operation (for example its streaming variant)."""

    kind: str  # "" (the only variant), "blocking" or "streaming"
    samples: dict[str, str]
    model: str  # RequestModel.to_json()


@dataclass
class OperationView:
    """One operation block of a mode page."""

    id: str
    method: str
    path: str
    summary: str
    description: str
    tag: str
    params: list[tuple[str, list[FieldRow]]]
    body_type: str
    body_fields: list[FieldRow]
    request_example: JsonExample | None
    responses: list[ResponseView]
    sample_sets: list[SampleSet]
    mode_error: str
    has_inputs: bool
    error_codes: list[ErrorRow] = field(default_factory=list)


@dataclass
class EventView:
    name: str
    description: str
    fields: list[FieldRow]
    example: JsonExample | None


@dataclass
class ErrorRow:
    code: str
    status: str
    description: str
    operations: list[str]


@dataclass
class ModePage:
    mode: str
    operations: list[OperationView]
    nav: list[tuple[str, list[OperationView]]]
    grammars: list[GrammarView]
    events: list[EventView]
    errors: list[ErrorRow]
    examples: list[JsonExample] = field(default_factory=list)
    # (operationId, summary, text) of each operation's `x-implementation-notes`
    notes: list[tuple[str, str, str]] = field(default_factory=list)


def _mode_keyed(media: dict[str, Any]) -> dict[str, Any] | None:
    """`examples` keyed by app mode (`chat`, `advanced-chat` …): one example per mode that has one."""
    exs = media.get("examples")
    if isinstance(exs, dict) and exs and all(str(k) in MODES for k in exs):
        return exs
    return None


def _example_from_media(media: dict[str, Any], mode: str | None) -> tuple[Any, bool]:
    if "example" in media:
        return media["example"], True
    keyed = _mode_keyed(media)
    if keyed is not None:
        ex = keyed.get(mode or "")
        return (ex.get("value"), True) if isinstance(ex, dict) else (None, False)
    exs = media.get("examples")
    if isinstance(exs, dict) and exs:
        key = mode if mode in exs else next(iter(exs))
        for name, ex in exs.items():
            if mode and isinstance(ex, dict) and mode in (str(name), str(ex.get("summary", ""))):
                key = name
        ex = exs[key]
        if isinstance(ex, dict) and "value" in ex:
            return ex["value"], True
    return None, False


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


class PageBuilder:
    """Builds page models for one language from one bundle."""

    def __init__(self, bundle: SpecBundle, t: Translator, base_url: str) -> None:
        self.bundle = bundle
        self.t = t
        self.base_url = base_url
        self.walker = SchemaWalker(bundle, t)
        self._mode_pages: dict[str, ModePage] = {}

    def text(self, node: dict[str, Any], loc: Loc, attr: str = "description") -> str:
        return self.walker.describe(node, loc, attr)

    def tag(self, name: str) -> str:
        return self.t(f"tag#{name}", name)

    # ---- operations -------------------------------------------------------------------
    def operation(self, op: Operation, mode: str) -> OperationView:
        node, loc = op.node, op.loc
        groups: dict[str, list[FieldRow]] = {}
        path_values: dict[str, Any] = {}
        query_values: dict[str, Any] = {}
        for i, raw in enumerate(node.get("parameters") or []):
            param, ploc = self.bundle.deref(raw, loc.child("parameters", i))
            if not isinstance(param, dict) or "name" not in param:
                continue
            name, where = str(param["name"]), str(param.get("in", "query"))
            schema = param.get("schema") or {}
            row = self.walker.row(name, schema, ploc.child("schema"), 0, bool(param.get("required")))
            row.description = self.text(param, ploc) or row.description
            groups.setdefault(where, []).append(row)
            value = (
                param["example"] if "example" in param else self.walker.example(schema, ploc.child("schema"))
            )
            if where == "path":
                path_values[name] = value
            elif where == "query" and (param.get("required") or "example" in param or name == "user"):
                query_values[name] = value
        params: list[tuple[str, list[FieldRow]]] = [
            (w, groups[w]) for w in ("path", "query", "header") if w in groups
        ]

        body_type, body_fields, request_example = "", [], None
        bodies: list[tuple[str, Any]] = [("", None)]
        form: list[list[str]] = []
        body, body_loc = self.bundle.deref(node.get("requestBody"), loc.child("requestBody"))
        content = body.get("content") if isinstance(body, dict) else None
        answer = self._answer_kind(op)
        if isinstance(content, dict) and content:
            body_type = next(iter(content))
            media = content[body_type]
            mloc = body_loc.child("content", body_type)
            schema_loc = mloc.child("schema")
            body_fields = self.walker.fields(media.get("schema") or {}, schema_loc)
            value, _ = _example_from_media(media, mode)
            if value is None:
                value = self.walker.example(media.get("schema") or {}, schema_loc)
            if body_type == "multipart/form-data":
                form = self._form(media, schema_loc, value)
            else:
                bodies = self._variants(op, mode, media, value)
                request_example = JsonExample(
                    self.t.ui("ui.request_example"), _dump(bodies[0][1]), bodies[0][1], schema_loc
                )
        sample_sets: list[SampleSet] = []
        for kind, json_body in bodies:
            streaming = kind == "streaming" or (kind == "" and answer == "sse")
            req = RequestModel(
                op.method,
                self.base_url,
                fill_path(op.path, path_values),
                query_values,
                json_body,
                form,
                streaming,
                "sse" if streaming else ("json" if answer == "sse" else answer),
                self._output_name(op) if answer == "binary" else "",
            )
            samples = {name: gen(req) for name, gen in GENERATORS.items()}
            sample_sets.append(SampleSet(kind, samples, req.to_json()))
        json_body = bodies[0][1]
        has_inputs = isinstance(json_body, dict) and "inputs" in json_body
        return OperationView(
            id=op.operation_id,
            method=op.method,
            path=op.path,
            summary=self.text(node, loc, "summary") or op.operation_id,
            description=self.text(node, loc),
            tag=op.tags[0] if op.tags else "",
            params=params,
            body_type=body_type,
            body_fields=body_fields,
            request_example=request_example,
            responses=self._responses(op, mode, bodies[-1][1]),
            sample_sets=sample_sets,
            mode_error=str(node.get("x-mode-error") or ""),
            has_inputs=has_inputs,
            error_codes=self.errors({op.operation_id}),
        )

    def _answer_kind(self, op: Operation) -> str:
        """How a sample reads the success answer: `json`, `sse` (only a stream), `binary` or `empty`."""
        for status, raw in (op.node.get("responses") or {}).items():
            if not str(status).startswith("2"):
                continue
            resp, _ = self.bundle.deref(raw, op.loc.child("responses", status))
            types = [str(t) for t in ((resp or {}).get("content") or {})]
            if not types:
                return "empty"
            if any("json" in t for t in types):
                return "json"
            if types == ["text/event-stream"]:
                return "sse"
            return "binary"
        return "json"

    def _output_name(self, op: Operation) -> str:
        for status, raw in (op.node.get("responses") or {}).items():
            resp, _ = self.bundle.deref(raw, op.loc.child("responses", status))
            types = [str(t) for t in ((resp or {}).get("content") or {})] if isinstance(resp, dict) else []
            if any(t.startswith("audio/") for t in types):
                return "speech.mp3"
        return "download.bin"

    def _variants(self, op: Operation, mode: str, media: dict[str, Any], value: Any) -> list[tuple[str, Any]]:
        """One body per way of calling: blocking and streaming where the mode has both.

        A mode has a blocking reply when the 200 JSON answer has an example for it (examples
        keyed by mode) or one for every mode; a streaming reply when `x-sse-events` lists it.
        """
        if not (isinstance(value, dict) and "response_mode" in value):
            return [("", value)]
        blocking, streaming = False, False
        for status, raw in (op.node.get("responses") or {}).items():
            if not str(status).startswith("2"):
                continue
            resp, _ = self.bundle.deref(raw, op.loc.child("responses", status))
            content = (resp or {}).get("content") or {}
            json_media = content.get("application/json")
            if isinstance(json_media, dict):
                keyed = _mode_keyed(json_media)
                blocking = keyed is None or mode in keyed
            sse = (content.get("text/event-stream") or {}).get("x-sse-events") or {}
            streaming = isinstance(sse, dict) and mode in sse
        raw_named = media.get("examples")
        named: dict[str, Any] = raw_named if isinstance(raw_named, dict) else {}
        out: list[tuple[str, Any]] = []
        for kind, wanted in (("blocking", blocking), ("streaming", streaming)):
            if not wanted:
                continue
            ex = named.get(kind)
            body = ex.get("value") if isinstance(ex, dict) and isinstance(ex.get("value"), dict) else None
            out.append((kind, dict(body) if body else {**value, "response_mode": kind}))
        return out or [("", value)]

    def _form(self, media: dict[str, Any], schema_loc: Loc, value: Any) -> list[list[str]]:
        schema, sloc = self.bundle.deref(media.get("schema") or {}, schema_loc)
        _, _, props, required = self.walker.merged(schema, sloc)
        values = value if isinstance(value, dict) else {}
        raw_encoding = media.get("encoding")
        encoding: dict[str, Any] = raw_encoding if isinstance(raw_encoding, dict) else {}
        out: list[list[str]] = []
        for name, sub, sub_loc in props:
            sub_node, _ = self.bundle.deref(sub, sub_loc)
            is_file = isinstance(sub_node, dict) and sub_node.get("format") == "binary"
            if not is_file and name not in required and name not in values:
                continue
            if not is_file:
                out.append([name, str(values.get(name, self.walker.example(sub, sub_loc))), "text", ""])
                continue
            # The part's content type: the first the spec's `encoding` names (curl and Node do
            # not guess one from the file name).
            ctype = str((encoding.get(name) or {}).get("contentType") or "").split(",")[0].strip()
            v = values.get(name)
            if not isinstance(v, str) or v == "<binary>" or not v:
                v = "speech.mp3" if ctype.startswith("audio/") else "example.pdf"
            out.append([name, v, "file", ctype])
        return out

    def _responses(self, op: Operation, mode: str, request: Any = None) -> list[ResponseView]:
        out: list[ResponseView] = []
        context: dict[str, Any] = {"request": request}
        for status, raw in (op.node.get("responses") or {}).items():
            resp, rloc = self.bundle.deref(raw, op.loc.child("responses", status))
            if not isinstance(resp, dict):
                continue
            desc = self.text(resp, rloc)
            content = resp.get("content") or {}
            if not content:
                out.append(ResponseView(str(status), desc, "", [], []))
                continue
            for ctype, media in content.items():
                mloc = rloc.child("content", ctype)
                if not isinstance(media, dict):
                    continue
                if ctype == "text/event-stream":
                    out.append(self._stream_response(str(status), desc, media, mode, context))
                    continue
                schema = media.get("schema") or {}
                fields = self.walker.fields(schema, mloc.child("schema")) if "json" in ctype else []
                examples: list[JsonExample] = []
                if "json" in ctype:
                    keyed = _mode_keyed(media)
                    if keyed is not None and mode not in keyed:
                        continue  # this mode has no such answer (agent-chat: no blocking reply)
                    value, found = _example_from_media(media, mode)
                    if not found:
                        value = self.walker.example(schema, mloc.child("schema"))
                    title = (
                        self.t.ui("ui.blocking_example")
                        if str(status).startswith("2")
                        else self.t.ui("ui.response_status_example", status=status)
                    )
                    if str(status).startswith("2"):
                        context["answer"] = value
                    examples.append(JsonExample(title, _dump(value), value, mloc.child("schema")))
                out.append(ResponseView(str(status), desc, str(ctype), fields, examples))
        taken: set[str] = set()
        for r in out:
            anchor = f"{op.operation_id}-{r.status}" + ("-stream" if r.is_stream else "")
            if anchor in taken:
                anchor += "-" + "".join(c if c.isalnum() else "-" for c in r.content_type)
            taken.add(anchor)
            r.anchor = anchor
        return out

    def _stream_response(
        self, status: str, desc: str, media: dict[str, Any], mode: str, context: dict[str, Any]
    ) -> ResponseView:
        sse = media.get("x-sse-events") or {}
        union = sse.get(mode) if isinstance(sse, dict) else None
        examples: list[JsonExample] = []
        if isinstance(union, str):
            g = grammar_for_union(self.bundle, union, mode)
            if g is not None:
                events = stitch(sample_stream(self.bundle, g), context.get("answer"), context.get("request"))
                union_loc = Loc("events", tuple(union.partition("#")[2].lstrip("/").split("/")))
                examples.append(
                    JsonExample(
                        self.t.ui("ui.streaming_example"), sse_text(events), events, union_loc, kind="sse"
                    )
                )
        return ResponseView(status, desc, "text/event-stream", [], examples, is_stream=True)

    # ---- mode pages ---------------------------------------------------------------------
    def mode_page(self, mode: str) -> ModePage:
        if mode not in self._mode_pages:
            self._mode_pages[mode] = self._mode_page(mode)
        return self._mode_pages[mode]

    def _mode_page(self, mode: str) -> ModePage:
        ops = [self.operation(op, mode) for op in self.bundle.operations_for(mode)]
        nav: dict[str, list[OperationView]] = {}
        for ov in ops:
            nav.setdefault(ov.tag, []).append(ov)
        mode_grammars = [g for g in grammars(self.bundle) if mode in g.modes]
        events: list[str] = []
        for g in mode_grammars:
            events.extend(e for e in union_events(self.bundle, g.union) if e not in events)
        op_ids = {op.operation_id for op in self.bundle.operations_for(mode)}
        page = ModePage(
            mode=mode,
            operations=ops,
            nav=[(self.tag(tag) if tag else "", items) for tag, items in nav.items()],
            grammars=[view(self.bundle, g, self.t) for g in mode_grammars],
            events=[self.event(e) for e in events if e in self.bundle.event_defs],
            errors=self.errors(op_ids),
        )
        for op in self.bundle.operations_for(mode):
            note = op.node.get("x-implementation-notes")
            if isinstance(note, dict):
                text = self.text(note, op.loc.child("x-implementation-notes"))
                summary = next((ov.summary for ov in ops if ov.id == op.operation_id), op.operation_id)
                if text:
                    page.notes.append((op.operation_id, summary, text))
        for ov in ops:
            if ov.request_example:
                page.examples.append(ov.request_example)
            for r in ov.responses:
                page.examples.extend(r.examples)
        page.examples.extend(ev.example for ev in page.events if ev.example)
        return page

    def event(self, def_name: str) -> EventView:
        defn = self.bundle.event_defs[def_name]
        loc = Loc("events", ("$defs", def_name))
        name = event_name(defn, def_name)
        example = None
        exs = defn.get("examples")
        if isinstance(exs, list) and exs:
            example = JsonExample(self.t.ui("ui.example"), _dump(exs[0]), exs[0], loc)
        return EventView(name, self.text(defn, loc), self.walker.fields(defn, loc), example)

    def errors(self, op_ids: set[str] | None) -> list[ErrorRow]:
        rows: list[ErrorRow] = []
        for code, entry in self.bundle.error_codes.items():
            ops = [str(o) for o in entry.get("operations") or []]
            if op_ids is not None and ops and not (set(ops) & op_ids):
                continue
            shown = [o for o in ops if op_ids is None or o in op_ids]
            loc = Loc("openapi", ("x-error-codes", code))
            rows.append(ErrorRow(code, str(entry.get("status", "")), self.text(entry, loc), shown))
        rows.sort(key=lambda r: (r.status, r.code))
        return rows

    def all_events(self) -> list[tuple[EventView, list[str]]]:
        """Every event with the modes whose streams carry it (streaming topic page)."""
        modes_by_event: dict[str, list[str]] = {}
        for g in grammars(self.bundle):
            for e in union_events(self.bundle, g.union):
                for m in g.modes:
                    if m not in modes_by_event.setdefault(e, []):
                        modes_by_event[e].append(m)
        return [
            (self.event(d), modes_by_event.get(d, []))
            for d in self.bundle.event_defs
            if "event" in (self.bundle.event_defs[d].get("properties") or {})
        ]

    def security_text(self) -> str:
        schemes = (self.bundle.openapi.get("components") or {}).get("securitySchemes") or {}
        for name, scheme in schemes.items():
            if isinstance(scheme, dict):
                return self.text(scheme, Loc("openapi", ("components", "securitySchemes", str(name))))
        return ""

    def info_text(self) -> str:
        info = self.bundle.openapi.get("info") or {}
        return self.text(info, Loc("openapi", ("info",))) if isinstance(info, dict) else ""

    def grammar_views(self) -> list[GrammarView]:
        return [view(self.bundle, g, self.t) for g in grammars(self.bundle)]

    def related_operations(self, topic: str) -> list[tuple[str, str, str, list[str]]]:
        """(operationId, method, path, modes) of the operations a topic page lists."""
        return [
            (op.operation_id, op.method, op.path, op.modes)
            for op in self.bundle.operations
            if _related(self.bundle, op, topic)
        ]


def _param_names(bundle: SpecBundle, op: Operation) -> set[str]:
    names: set[str] = set()
    for i, raw in enumerate(op.node.get("parameters") or []):
        param, _ = bundle.deref(raw, op.loc.child("parameters", i))
        if isinstance(param, dict) and "name" in param:
            names.add(str(param["name"]).lower())
    return names


def _body_props(bundle: SpecBundle, op: Operation) -> tuple[set[str], set[str]]:
    """(content types, top-level property names) of the request body."""
    body, loc = bundle.deref(op.node.get("requestBody"), op.loc.child("requestBody"))
    content = body.get("content") if isinstance(body, dict) else None
    types: set[str] = set()
    props: set[str] = set()
    for ctype, media in (content or {}).items():
        types.add(str(ctype))
        schema, sloc = bundle.deref((media or {}).get("schema") or {}, loc.child("content", ctype, "schema"))
        if isinstance(schema, dict):
            props |= {str(p) for p in schema.get("properties") or {}}
            for i, part in enumerate(schema.get("allOf") or []):
                sub, _ = bundle.deref(part, sloc.child("allOf", i))
                if isinstance(sub, dict):
                    props |= {str(p) for p in sub.get("properties") or {}}
    return types, props


def _streams(op: Operation) -> bool:
    return any(
        isinstance(r, dict) and "text/event-stream" in (r.get("content") or {})
        for r in (op.node.get("responses") or {}).values()
    )


def _related(bundle: SpecBundle, op: Operation, topic: str) -> bool:
    if topic == "streaming":
        return _streams(op)
    if topic == "files":
        types, props = _body_props(bundle, op)
        return "multipart/form-data" in types or "files" in props or "/files" in op.path
    if topic == "pagination":
        return bool(_param_names(bundle, op) & {"last_id", "first_id", "page", "limit"})
    if topic == "tracing":
        _, props = _body_props(bundle, op)
        return (
            bool(_param_names(bundle, op) & {"x-trace-id", "trace_id", "traceparent"}) or "trace_id" in props
        )
    return False
