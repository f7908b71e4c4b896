"""http-request: one HTTP call with timeouts and an address policy.

Requests to private, loopback, link-local, reserved or multicast addresses are refused unless
the host (name or address) is in the server's allow-list (`hooks.http_allowed_hosts`). Redirects
are not followed, so a public URL cannot bounce the call to an internal one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from impl import outbound
from impl.engine.graph import Node
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import as_mapping
from impl.outbound import Address

MAX_RESPONSE_BYTES = 10 * 1024 * 1024
MAX_TIMEOUT = 600.0
DEFAULT_TIMEOUTS = {"connect": 10.0, "read": 60.0, "write": 20.0}
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _pairs(raw: Any, runner: WorkflowRunner) -> list[tuple[str, str | int | float | bool | None]]:
    out: list[tuple[str, str | int | float | bool | None]] = []
    if isinstance(raw, str):
        for line in raw.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                if key.strip():
                    out.append((runner.pool.render(key.strip()), runner.pool.render(value.strip())))
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and item.get("key"):
                out.append(
                    (runner.pool.render(str(item["key"])), runner.pool.render(str(item.get("value") or "")))
                )
    return out


async def check_destination(url: str, allowed: frozenset[str]) -> Address:
    """Apply the outbound address policy (`impl.outbound`); returns the address to connect to."""
    try:
        return await outbound.check(url, allowed)
    except outbound.Refused as exc:
        raise NodeError(
            f"requests to {exc.host} ({exc.address}) are refused: private, loopback and link-local "
            "addresses are blocked unless the server's allow-list admits them",
            "HttpRequestNodeError",
        ) from None
    except outbound.InvalidUrl as exc:
        raise NodeError(str(exc), "InvalidURLError") from None
    except outbound.OutboundError as exc:
        raise NodeError(str(exc), "HttpRequestNodeError") from None


pin = outbound.pin


def _timeouts(raw: Any) -> httpx.Timeout:
    values = dict(DEFAULT_TIMEOUTS)
    if isinstance(raw, Mapping):
        for key in values:
            given = raw.get(key) if raw.get(key) is not None else raw.get(f"max_{key}_timeout")
            if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
                values[key] = min(float(given), MAX_TIMEOUT)
    return httpx.Timeout(
        connect=values["connect"], read=values["read"], write=values["write"], pool=values["connect"]
    )


def _body(runner: WorkflowRunner, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    kind = str(raw.get("type") or "none")
    data = raw.get("data")
    if kind == "none":
        return {}
    if isinstance(data, list):
        if kind in ("form-data", "x-www-form-urlencoded"):
            fields = {
                runner.pool.render(str(i.get("key"))): runner.pool.render(str(i.get("value") or ""))
                for i in data
                if isinstance(i, Mapping) and i.get("key") and i.get("type", "text") == "text"
            }
            return (
                {"data": fields}
                if kind == "x-www-form-urlencoded"
                else {"files": {k: (None, v) for k, v in fields.items()}}
            )
        text = "".join(runner.pool.render(str(i.get("value") or "")) for i in data if isinstance(i, Mapping))
    else:
        text = runner.pool.render(str(data or ""))
    if kind == "json":
        try:
            json.loads(text or "null")
        except ValueError as exc:
            raise NodeError(f"the JSON body is not valid JSON: {exc}", "HttpRequestNodeError") from exc
        return {"content": text.encode("utf-8"), "headers": {"Content-Type": "application/json"}}
    if kind == "raw-text":
        return {"content": text.encode("utf-8"), "headers": {"Content-Type": "text/plain"}}
    raise NodeError(f"body type {kind!r} is not supported", "HttpRequestNodeError")


@handles("http-request")
async def http_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    data = node.data
    method = str(data.get("method") or "get").lower()
    if method not in METHODS:
        raise NodeError(f"invalid HTTP method {method!r}", "InvalidHttpMethodError")
    url = runner.pool.render(str(data.get("url") or "")).strip()
    address = await check_destination(url, runner.hooks.http_allowed_hosts)
    target, host_header, server_name = pin(url, address)
    headers = {k: str(v) for k, v in _pairs(data.get("headers"), runner)}
    params = _pairs(data.get("params"), runner)
    auth = data.get("authorization")
    if isinstance(auth, Mapping) and auth.get("type") == "api-key":
        config = as_mapping(auth.get("config"))
        key = runner.pool.render(str(config.get("api_key") or ""))
        kind = config.get("type") or "bearer"
        if kind == "bearer":
            headers["Authorization"] = f"Bearer {key}"
        elif kind == "basic":
            headers["Authorization"] = f"Basic {key}"
        else:
            headers[str(config.get("header") or "Authorization")] = key
    body = _body(runner, data.get("body"))
    extra_headers = body.pop("headers", {})
    for k, v in extra_headers.items():
        headers.setdefault(k, v)
    headers["Host"] = host_header
    runner.check_stop()
    timeout = _timeouts(data.get("timeout"))
    extensions = {"sni_hostname": server_name}
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream(
                method.upper(), target, headers=headers, params=params, extensions=extensions, **body
            ) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise NodeError("the response is larger than 10 MB", "ResponseSizeError")
                chunks.append(chunk)
            raw = b"".join(chunks)
    except httpx.TimeoutException as exc:
        raise NodeError(
            f"the request to {url} timed out ({type(exc).__name__})", "HttpRequestTimeoutError"
        ) from exc
    except httpx.HTTPError as exc:
        raise NodeError(f"the request to {url} failed: {exc}", "HttpRequestNodeError") from exc
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    return NodeResult(
        outputs={
            "status_code": response.status_code,
            "body": text,
            "headers": {k: v for k, v in response.headers.items()},
            "files": [],
        },
        inputs={},
        process_data={"request": f"{method.upper()} {url}"},
    )
