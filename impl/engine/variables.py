"""The variable pool of one run and the two ways a DSL refers to it.

* `value_selector` lists: `["node_id", "var", "key", ...]` (the first two pick the value, the
  rest walk into objects and files);
* `{{#node_id.var#}}` placeholders inside text (prompts, answers, URLs, headers, bodies).

System variables live under `sys`, environment variables under `env`, conversation variables
under `conversation`; loop and iteration state lives under the container node's id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDER = re.compile(r"\{\{#([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+){1,10})#\}\}")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def to_text(value: Any) -> str:
    """How a value reads when it is placed in text."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping) and "transfer_method" in value:
        return str(value.get("url") or value.get("remote_url") or value.get("filename") or "")
    return json.dumps(value, ensure_ascii=False)


def selector_of(raw: Any) -> list[str] | None:
    """A value selector as a list of strings, or None when `raw` is not one."""
    if isinstance(raw, list | tuple) and len(raw) >= 2 and all(isinstance(p, str) for p in raw):
        return [str(p) for p in raw]
    if isinstance(raw, str) and "." in raw:
        text = raw.strip()
        if text.startswith("{{#") and text.endswith("#}}"):
            text = text[3:-3]
        parts = text.split(".")
        if len(parts) >= 2:
            return parts
    return None


def _walk(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        if isinstance(value, Mapping):
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return MISSING
    return value


@dataclass
class VariablePool:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, node_id: str, name: str, value: Any) -> None:
        self.values.setdefault(node_id, {})[name] = value

    def child(self) -> VariablePool:
        """A copy for one iteration round: writes stay in it (values are never mutated in place)."""
        return VariablePool({scope: dict(values) for scope, values in self.values.items()})

    def set_outputs(self, node_id: str, outputs: Mapping[str, Any]) -> None:
        self.values[node_id] = dict(outputs)

    def get(self, selector: Sequence[str] | None) -> Any:
        """The value a selector names, or MISSING."""
        if not selector or len(selector) < 2:
            return MISSING
        scope = self.values.get(selector[0])
        if scope is None:
            return MISSING
        name = selector[1]
        if name not in scope:
            # `sys.query` may be written as ["sys", "query"] or ["sys", "sys.query"].
            alt = f"{selector[0]}.{name}" if not name.startswith(f"{selector[0]}.") else name[4:]
            if alt not in scope:
                return MISSING
            name = alt
        return _walk(scope[name], selector[2:])

    def has(self, selector: Sequence[str] | None) -> bool:
        return self.get(selector) is not MISSING

    def value(self, selector: Sequence[str] | None, default: Any = None) -> Any:
        found = self.get(selector)
        return default if found is MISSING else found

    def render(self, template: str) -> str:
        """Replace every `{{#node.var#}}` with the text of its value (unknown → empty)."""
        if not template or "{{#" not in template:
            return template or ""
        return PLACEHOLDER.sub(lambda m: to_text(self.get(m.group(1).split("."))), template)


def segments(template: str) -> Iterator[tuple[str, Any]]:
    """Split text into ("text", str) and ("var", selector) pieces, in order."""
    pos = 0
    for match in PLACEHOLDER.finditer(template or ""):
        if match.start() > pos:
            yield "text", template[pos : match.start()]
        yield "var", match.group(1).split(".")
        pos = match.end()
    if pos < len(template or ""):
        yield "text", template[pos:]


def referenced(template: str) -> list[list[str]]:
    """Every selector a text mentions."""
    return [m.group(1).split(".") for m in PLACEHOLDER.finditer(template or "")]


def as_mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one (tolerant reading of DSL sections)."""
    return value if isinstance(value, Mapping) else {}
