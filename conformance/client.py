"""HTTP access to the server under test, with every exchange recorded for the report."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable
from typing import Any

import httpx

EVIDENCE_LIMIT = 2000


def key_variable(mode: str) -> str:
    return "DIFY_KEY_" + mode.upper().replace("-", "_")


@dataclasses.dataclass
class Exchange:
    """One request and what came back (the body possibly cut to EVIDENCE_LIMIT)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    status: int | None = None
    response_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    response_body: bytes = b""
    error: str | None = None
    # key -> shell variable that replaces it in the curl command
    secrets: dict[str, str] = dataclasses.field(default_factory=dict)

    def curl(self) -> str:
        parts = ["curl", "-sS", "-N" if self.is_stream else "-i", "-X", self.method]
        for name, value in self.headers.items():
            if name.lower() in ("content-length", "host", "accept-encoding", "connection", "user-agent"):
                continue
            parts += ["-H", self._mask(f"{name}: {value}")]
        if self.body is not None:
            text = self.body.decode("utf-8", "replace")
            if "multipart/form-data" in self.headers.get("content-type", ""):
                parts += ["--data-binary", "<multipart body elided>"]
            else:
                parts += ["--data-raw", text]
        parts.append(self.url)
        quoted = " ".join(shlex.quote(p) for p in parts)
        for var in self.secrets.values():
            quoted = quoted.replace(
                shlex.quote(f"Authorization: Bearer ${{{var}}}"), f'"Authorization: Bearer ${{{var}}}"'
            )
        return quoted

    def _mask(self, header: str) -> str:
        for key, var in self.secrets.items():
            header = header.replace(key, "${" + var + "}")
        return header

    @property
    def is_stream(self) -> bool:
        return "text/event-stream" in self.response_headers.get("content-type", "")

    def evidence(self) -> str:
        if self.error:
            return f"no response: {self.error}"
        head = f"HTTP {self.status}\n" + "".join(
            f"{k}: {v}\n"
            for k, v in self.response_headers.items()
            if k.lower() in ("content-type", "cache-control", "x-accel-buffering", "www-authenticate")
        )
        body = self.response_body[:EVIDENCE_LIMIT].decode("utf-8", "replace")
        more = " …(cut)" if len(self.response_body) > EVIDENCE_LIMIT else ""
        return f"{head}\n{body}{more}"


@dataclasses.dataclass
class Reply:
    status: int
    headers: httpx.Headers
    content: bytes
    exchange: Exchange

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";")[0].strip().lower()


NO_KEY = object()


class Api:
    """A small synchronous client bound to one base URL and one app key."""

    def __init__(
        self,
        base_url: str,
        key: str,
        mode: str,
        *,
        timeout: float = 10.0,
        secrets: dict[str, str] | None = None,
        observer: Callable[[Exchange], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.mode = mode
        self.timeout = timeout
        self.secrets = dict(secrets or {key: key_variable(mode)})
        self.http = httpx.Client(timeout=timeout)
        self.requests_sent = 0
        # Sees every completed exchange (plain calls and streams): the run validates each against the spec.
        self.observer = observer

    def observe(self, exchange: Exchange) -> None:
        if self.observer is not None:
            self.observer(exchange)

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def auth_headers(self, key: Any = None) -> dict[str, str]:
        if key is NO_KEY:
            return {}
        return {"Authorization": f"Bearer {self.key if key is None else key}"}

    def build(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        files: Any = None,
        data: dict[str, str] | None = None,
        key: Any = None,
        raw_body: bytes | None = None,
    ) -> httpx.Request:
        hdrs = {**self.auth_headers(key), **(headers or {})}
        kwargs: dict[str, Any] = {"params": params, "headers": hdrs}
        if raw_body is not None:
            kwargs["content"] = raw_body
        elif files is not None:
            kwargs["files"] = files
            kwargs["data"] = data
        elif json_body is not None:
            kwargs["json"] = json_body
        return self.http.build_request(method, self.url(path), **kwargs)

    def exchange_for(self, request: httpx.Request) -> Exchange:
        body = request.content if request.method not in ("GET", "HEAD") or request.content else None
        return Exchange(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            body=body or None,
            secrets=self.secrets,
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        request = self.build(method, path, **kwargs)
        if "files" in kwargs and kwargs["files"] is not None:
            request.read()
        ex = self.exchange_for(request)
        self.requests_sent += 1
        try:
            response = self.http.send(request)
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
            raise TransportFailure(ex) from exc
        ex.status = response.status_code
        ex.response_headers = dict(response.headers)
        ex.response_body = response.content
        self.observe(ex)
        return Reply(response.status_code, response.headers, response.content, ex)


class TransportFailure(Exception):
    """The server did not answer (connection refused, timeout)."""

    def __init__(self, exchange: Exchange) -> None:
        super().__init__(exchange.error)
        self.exchange = exchange
