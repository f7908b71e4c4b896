"""Bounded Schemathesis run over the annotation, audio and agent-chat operations against the live
server (response validation on): no 5xx, documented statuses and content types, bodies matching
the spec, invalid requests rejected, SSE events valid for the agent-chat union.

Fresh apps are installed for the run (annotation reply jobs must not switch the demo chat app)."""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from support.server import LiveServer

from conformance.grammar import EventValidator
from impl.sse import parse_frames

sys.path.insert(0, str(Path(__file__).resolve().parent / "handlers"))
from extras_apps import dsl, install

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = 25
POSITIVE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE = [*POSITIVE, negative_data_rejection]
# operationId → (app, generation modes); multipart type mutations are still strings on the wire.
OPERATIONS: dict[str, tuple[str, tuple[GenerationMode, ...]]] = {
    "getAnnotationList": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "createAnnotation": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "updateAnnotation": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "deleteAnnotation": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "initialAnnotationReplySettings": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "getInitialAnnotationReplySettingsStatus": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "textToAudioChat": ("chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
    "audioToText": ("chat", (GenerationMode.POSITIVE,)),
    "sendChatMessage": ("agent-chat", (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)),
}


@pytest.fixture(scope="module")
def keys(live_server: LiveServer) -> dict[str, str]:
    chat = dsl(
        "chat.yml",
        text_to_speech={"enabled": True, "voice": "", "language": "en-US"},
        speech_to_text={"enabled": True},
    )
    return {"chat": install(live_server, chat), "agent-chat": live_server.keys["agent-chat"]}


def _schema() -> Any:
    doc = yaml.safe_load((REPO / "spec" / "openapi.yaml").read_text(encoding="utf-8"))
    config = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})
    return schemathesis.openapi.from_dict(json.loads(json.dumps(doc, default=str)), config=config)


def _sse_problems(validator: EventValidator, response: Any) -> list[str]:
    ctype = response.headers.get("content-type", [""])
    ctype = (ctype[0] if isinstance(ctype, list) else ctype).lower()
    if response.status_code != 200 or "text/event-stream" not in ctype:
        return []
    problems = []
    for event in parse_frames(response.content.decode("utf-8")):
        if event is not None:
            problems.extend(validator.errors(event, "stream_agent-chat"))
    return problems


def _run(
    operation: Any, mode: GenerationMode, base_url: str, headers: dict[str, str]
) -> tuple[int, list[str]]:
    """Run `EXAMPLES` generated cases of one operation in one generation mode."""
    checks = POSITIVE if mode is GenerationMode.POSITIVE else NEGATIVE
    validator = EventValidator(REPO / "spec" / "events.schema.json")
    failures: list[str] = []
    counted = [0]

    def one(case: Any) -> None:
        counted[0] += 1
        response = case.call(base_url=base_url, headers=headers, timeout=20)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            failures.extend(
                f"{f.code} {f.title}: {case.as_curl_command(headers=headers)}" for f in group.exceptions
            )
        except Failure as failure:
            failures.append(f"{failure.code} {failure.title}: {case.as_curl_command(headers=headers)}")
        failures.extend(_sse_problems(validator, response))

    settings = hypothesis.settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,
        print_blob=False,
    )
    test = settings(hypothesis.given(operation.as_strategy(generation_mode=mode))(one))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(hypothesis.errors.Unsatisfiable):
            test()
    return counted[0], failures


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_operation_contract(live_server: LiveServer, keys: dict[str, str], operation_id: str) -> None:
    app, modes = OPERATIONS[operation_id]
    operation = next(
        r.ok()
        for r in _schema().get_all_operations()
        if r.ok().definition.raw.get("operationId") == operation_id
    )
    headers = {"Authorization": f"Bearer {keys[app]}"}
    for mode in modes:
        count, failures = _run(operation, mode, live_server.base_url, headers)
        assert count > 0, f"no {mode.value} case was generated"
        assert failures == [], "\n".join(sorted(set(failures))[:10])
