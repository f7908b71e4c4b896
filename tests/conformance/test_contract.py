"""contract.* checks against one tiny server per behaviour and a two-operation fixture spec."""

from __future__ import annotations

import pytest
from fakes import serve
from helpers import REPO, SPECS, fast_config, outcomes, run_suite
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from conformance.model import Outcome
from conformance.spec import Spec

KEY = "app-contractfixturekey000000"


def make_app(fault: str | None) -> Starlette:
    def denied(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"code": "unauthorized", "message": "no", "status": 401}, 401)
        return None

    async def info(request: Request) -> Response:
        return denied(request) or JSONResponse({"name": "fixture", "mode": "chat"})

    async def echo(request: Request) -> Response:
        if (d := denied(request)) is not None:
            return d
        try:
            body = await request.json()
        except ValueError:
            body = None
        valid = (
            isinstance(body, dict)
            and isinstance(body.get("text"), str)
            and len(body["text"]) <= 20
            and isinstance(body.get("user"), str)
            and body["user"] != ""
        )
        if not valid:
            if fault == "500-on-bad-input":
                return JSONResponse({"code": "internal_error", "message": "boom", "status": 500}, 500)
            if fault == "accept-invalid":
                return JSONResponse({"text": "accepted anyway"})
            if fault == "envelope-without-code":
                return JSONResponse({"message": "bad", "status": 400}, 400)
            if fault == "undocumented-status":
                return JSONResponse({"code": "conflict", "message": "bad", "status": 409}, 409)
            return JSONResponse({"code": "invalid_param", "message": "bad", "status": 400}, 400)
        if fault == "wrong-content-type":
            return PlainTextResponse(body["text"])
        if fault == "required-field-missing":
            return JSONResponse({"echo": body["text"]})
        return JSONResponse({"text": body["text"]})

    return Starlette(routes=[Route("/v1/info", info), Route("/v1/echo", echo, methods=["POST"])])


SPEC = Spec(SPECS / "contract_mini", events_file=REPO / "spec" / "events.schema.json")


def run_against(fault: str | None) -> dict[str, Outcome]:
    with serve(make_app(fault)) as url:
        cfg = fast_config(url, {"chat": KEY}, only=["contract.*"])
        cfg.limits.fuzz_examples = 25
        report = run_suite(cfg, SPEC)
    return {
        c: outcomes(report, c, "chat")["echo"]
        for c in (
            "contract.no-server-error",
            "contract.status-documented",
            "contract.content-type",
            "contract.response-schema",
            "contract.negative-rejected",
            "contract.error-envelope",
        )
    }


def test_a_conforming_server_passes_every_contract_check() -> None:
    assert set(run_against(None).values()) == {Outcome.PASS}


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("500-on-bad-input", "contract.no-server-error"),
        ("undocumented-status", "contract.status-documented"),
        ("wrong-content-type", "contract.content-type"),
        ("required-field-missing", "contract.response-schema"),
        ("accept-invalid", "contract.negative-rejected"),
        ("envelope-without-code", "contract.error-envelope"),
    ],
)
def test_each_fault_fails_the_check_that_names_it(fault: str, check: str) -> None:
    verdicts = run_against(fault)
    assert verdicts[check] is Outcome.FAIL, verdicts
