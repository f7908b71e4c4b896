"""External trace id resolution (Dify's order: header, query, JSON body; invalid → none)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TRACE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def resolve_trace_id(
    headers: Mapping[str, str], query: Mapping[str, Any], body: Mapping[str, Any] | None
) -> str | None:
    """The first *present* candidate wins; when it is invalid the result is None (no fallback)."""
    candidates: list[Any] = [headers.get("x-trace-id"), query.get("trace_id")]
    if body is not None:
        candidates.append(body.get("trace_id"))
    for value in candidates:
        if value is None or value == "":
            continue
        return value if isinstance(value, str) and TRACE_ID.fullmatch(value) else None
    return None
