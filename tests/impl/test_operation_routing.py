"""impl.routing: a handler is wrapped once per operation and still reads each request."""

from __future__ import annotations

from typing import Any

import pytest
from connexion import AsyncApp
from connexion.decorators import StarletteDecorator

from impl.handler_call import CallPlan
from impl.routing import OnceDecoratedOperation, RegistryResolver, use_once_decorated

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "once", "version": "1"},
    "paths": {
        "/echo/{word}": {
            "get": {
                "operationId": "echoOnce",
                "parameters": [
                    {"name": "word", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "times", "in": "query", "schema": {"type": "integer", "default": 1}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


async def echo(word: str, times: int = 1) -> dict[str, Any]:
    return {"echo": " ".join([word] * times)}


def test_a_handler_is_wrapped_once_and_reads_each_request(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = StarletteDecorator.decorate
    plans: list[str] = []
    original_plan = CallPlan.__init__

    def counting(self: StarletteDecorator, function: Any) -> Any:
        calls.append(function.__name__)
        return original(self, function)

    def counting_plans(self: CallPlan, operation: Any, function: Any, **kwargs: Any) -> None:
        plans.append(function.__name__)
        original_plan(self, operation, function, **kwargs)

    monkeypatch.setattr(StarletteDecorator, "decorate", counting)
    monkeypatch.setattr(CallPlan, "__init__", counting_plans)
    app = AsyncApp(__name__)
    use_once_decorated(app)
    app.add_api(SPEC, resolver=RegistryResolver({"echoOnce": echo}))
    client = app.test_client()
    assert client.get("/echo/hi").json() == {"echo": "hi"}
    assert client.get("/echo/ho", params={"times": 3}).json() == {"echo": "ho ho ho"}
    bad = client.get("/echo/ho", params={"times": "x"})
    assert bad.status_code == 400  # validation still runs per request
    assert client.get("/echo/yo", params={"times": 2}).json() == {"echo": "yo yo"}
    assert plans == ["echo"] and calls == []  # the call plan served them all
    # A form body takes Connexion's wrappers, made once too.
    for word in ("fa", "fo"):
        form = client.request("GET", f"/echo/{word}", params={"times": 2}, data={"x": "1"})
        assert form.json() == {"echo": f"{word} {word}"}
    assert plans == ["echo"] and calls == ["echo"]
    operations = [
        op for apis in app._middleware_app.apis.values() for api in apis for op in api.operations.values()
    ]
    assert operations and all(isinstance(op, OnceDecoratedOperation) for op in operations)
