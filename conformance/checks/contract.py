"""(a) Contract fuzzing: Schemathesis generates valid and invalid requests for every operation a
declared mode serves; its verdicts map onto our check ids, plus two checks of our own (the error
envelope and the JSON inside SSE events)."""

from __future__ import annotations

import json
import time
import warnings
from typing import TYPE_CHECKING, Any

import hypothesis
import hypothesis.errors
import schemathesis
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

from conformance import grammar
from conformance.client import Api, TransportFailure, key_variable
from conformance.model import CheckSpec, Outcome, Target
from conformance.registry import declare, register
from conformance.spec import Operation
from conformance.sse import FrameParser

if TYPE_CHECKING:
    from conformance.context import Context

_C = (
    (
        "contract.no-server-error",
        "No generated request, valid or invalid, gets a 5xx response.",
        Target.OPERATIONS,
    ),
    (
        "contract.status-documented",
        "Every status code returned is declared for the operation.",
        Target.OPERATIONS,
    ),
    (
        "contract.content-type",
        "Every response's Content-Type is one the operation declares for that status.",
        Target.OPERATIONS,
    ),
    (
        "contract.response-schema",
        "Response bodies (JSON, and each SSE envelope) match the declared schema.",
        Target.OPERATIONS,
    ),
    (
        "contract.negative-rejected",
        "Requests that violate the request schema are rejected with a 4xx.",
        Target.OPERATIONS,
    ),
    (
        "contract.error-envelope",
        "Every 4xx/5xx body is JSON {code, message, status} with status equal to the HTTP status.",
        Target.OPERATIONS,
    ),
    (
        "contract.sse-payload",
        "The JSON inside each fuzzed SSE event matches the mode's `x-sse-events` union.",
        Target.STREAMING,
    ),
)
for _id, _text, _target in _C:
    # Verdicts come from the fuzzing driver below (Schemathesis's checks plus our two), not a function each.
    declare(CheckSpec(_id, "contract", _text, _target), "contract")
CONTRACT_CHECKS = [c[0] for c in _C]
CODE_TO_CHECK = {
    "ST101": "contract.no-server-error",
    "ST102": "contract.no-server-error",
    "ST103": "contract.status-documented",
    "ST104": "contract.content-type",
    "ST105": "contract.content-type",
    "ST106": "contract.content-type",
    "ST107": "contract.response-schema",
    "ST108": "contract.response-schema",
    "ST109": "contract.response-schema",
    "ST110": "contract.response-schema",
    "ST111": "contract.response-schema",
    "ST201": "contract.negative-rejected",
}
POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [*POSITIVE_CHECKS, negative_data_rejection]


class _Tally:
    """Per (check, operation): the first failure of each kind, and how many cases ran."""

    def __init__(self) -> None:
        self.failures: dict[str, list[tuple[str, str, str]]] = {}
        self.cases = 0
        self.errors: dict[str, int] = {}
        self.setup_error: str | None = None

    def fail(self, check_id: str, message: str, curl: str, evidence: str) -> None:
        seen = self.failures.setdefault(check_id, [])
        if len(seen) < 3 and all(m != message for m, _, _ in seen):
            seen.append((message, curl, evidence))
        self.errors[check_id] = self.errors.get(check_id, 0) + 1


def _evidence(response: Any) -> str:
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    body = response.content[:1500].decode("utf-8", "replace")
    return f"HTTP {response.status_code}\ncontent-type: {ctype}\n\n{body}"


def _envelope_problem(response: Any) -> str | None:
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} body is not JSON"
    if not isinstance(body, dict):
        return f"{response.status_code} body is not a JSON object"
    missing = [k for k in ("code", "message", "status") if k not in body]
    if missing:
        return f"{response.status_code} error body lacks {', '.join(missing)}"
    if not isinstance(body["code"], str) or not isinstance(body["message"], str):
        return f"{response.status_code} error body: code and message must be strings"
    if body["status"] != response.status_code:
        return f"error body status {body['status']!r} differs from HTTP {response.status_code}"
    return None


def _sse_payload_problems(
    validator: grammar.EventValidator, op: Operation, mode: str, response: Any
) -> list[str]:
    ctype = response.headers.get("content-type", [""])
    ctype = (ctype[0] if isinstance(ctype, list) else ctype).lower()
    if response.status_code != 200 or "text/event-stream" not in ctype:
        return []
    pointer = op.sse_events().get(mode)
    if not pointer:
        return []
    union = pointer.rsplit("/", 1)[-1]
    problems = []
    for i, frame in enumerate(FrameParser().feed(response.content + b"\n\n", 0.0)):
        if frame.is_ping:
            continue
        payload = frame.payload()
        if payload is None:
            problems.append(f"event #{i} data is not a JSON object")
            continue
        errs = validator.errors(payload, union)
        if errs:
            problems.append(f"event #{i} `{payload.get('event')}` not valid for {union}: {errs[0]}")
    return problems


def drive(ctx: Context) -> None:
    """The `contract` family's driver: fuzz every operation a mode serves and map the verdicts."""
    doc = ctx.spec.openapi_for_schemathesis()
    # Dify ignores unknown query parameters and body fields, so "extra parameter" mutations are not
    # negative data for this API.
    st_config = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})
    schema = schemathesis.openapi.from_dict(doc, config=st_config)
    by_id = {}
    for result in schema.get_all_operations():
        op = result.ok() if hasattr(result, "ok") else None
        if op is not None:
            by_id[op.definition.raw.get("operationId")] = op
    validator = grammar.EventValidator(ctx.spec.events)
    for mode in ctx.config.keys:
        for op in ctx.spec.served_by(mode):
            wanted = [c for c in CONTRACT_CHECKS if ctx.wanted(c, mode, op.operation_id)]
            if not wanted:
                continue
            st_op = by_id.get(op.operation_id)
            if st_op is None:
                for c in wanted:
                    ctx.record(c, mode, op.operation_id, Outcome.SKIP, "Schemathesis could not load it")
                continue
            reply_was_on = annotation_reply_on(ctx.apis[mode]) if op.operation_id in SWITCHES_REPLY else None
            with ctx.timed(wanted, mode, op.operation_id):
                tally = _fuzz(ctx, mode, op, st_op, validator)
            if reply_was_on is False:
                switch_annotation_reply_off(ctx.apis[mode])
            for c in wanted:
                if c in tally.failures:
                    n = tally.errors[c]
                    for message, curl, evidence in tally.failures[c]:
                        ctx.record(
                            c,
                            mode,
                            op.operation_id,
                            Outcome.FAIL,
                            f"{message} ({n} of {tally.cases} cases)",
                            curl=curl,
                            evidence=evidence,
                        )
                elif tally.setup_error:
                    ctx.record(
                        c, mode, op.operation_id, Outcome.FAIL, f"fuzzing aborted: {tally.setup_error}"
                    )
                elif tally.cases == 0:
                    ctx.record(c, mode, op.operation_id, Outcome.SKIP, "no request could be generated")
                else:
                    ctx.record(c, mode, op.operation_id, Outcome.PASS, f"{tally.cases} generated cases")


# Fuzzing this operation with valid data switches the app's annotation reply on and off; the run
# leaves it as it found it when it found it off (an "on" state cannot be rebuilt: /parameters does
# not say its threshold or embedding model).
SWITCHES_REPLY = {"initialAnnotationReplySettings"}
REPLY_SETTINGS = {
    "score_threshold": 0.9,
    "embedding_provider_name": "openai",
    "embedding_model_name": "text-embedding-3-small",
}


def annotation_reply_on(api: Api) -> bool | None:
    """Whether the app's /parameters says annotation reply is on (None: it does not say)."""
    try:
        body = api.call("GET", "/parameters").json
    except TransportFailure:
        return None
    block = body.get("annotation_reply") if isinstance(body, dict) else None
    return bool(block.get("enabled")) if isinstance(block, dict) else None


def switch_annotation_reply_off(api: Api, timeout: float = 15.0) -> None:
    """Disable annotation reply and wait for the job (again while queued jobs turn it back on)."""
    deadline = time.monotonic() + timeout
    try:
        # Jobs queued by the fuzzing may still be running: wait until none turns it back on.
        while annotation_reply_on(api) and time.monotonic() < deadline:
            job = api.call("POST", "/apps/annotation-reply/disable", json_body=REPLY_SETTINGS).json
            job_id = job.get("job_id") if isinstance(job, dict) else None
            while job_id and time.monotonic() < deadline:
                status = api.call("GET", f"/apps/annotation-reply/disable/status/{job_id}").json
                if not isinstance(status, dict) or status.get("job_status") in ("completed", "error"):
                    break
                time.sleep(0.1)
            if not job_id:
                return
    except TransportFailure:
        return


def _fuzz(ctx: Context, mode: str, op: Operation, st_op: Any, validator: grammar.EventValidator) -> _Tally:
    api = ctx.apis[mode]
    headers = api.auth_headers()
    tally = _Tally()
    timeout = ctx.config.limits.request_timeout
    active: list[list[Any]] = [POSITIVE_CHECKS]
    for gen_mode, checks in (
        (GenerationMode.POSITIVE, POSITIVE_CHECKS),
        (GenerationMode.NEGATIVE, NEGATIVE_CHECKS),
    ):
        if gen_mode is GenerationMode.NEGATIVE and _is_multipart(op):
            # A type mutation of a form field is still a string on the wire, so "accepted negative data"
            # would be a false positive there (Schemathesis ST201 on multipart).
            checks = POSITIVE_CHECKS
        active[0] = checks
        strategy = st_op.as_strategy(generation_mode=gen_mode)

        def one(case: Any) -> None:
            tally.cases += 1
            api.requests_sent += 1
            try:
                response = case.call(base_url=api.base_url, headers=headers, timeout=timeout)
            except Exception as exc:
                curl = case.as_curl_command(headers=headers, base_url=api.base_url)
                tally.fail(
                    "contract.no-server-error",
                    f"no response: {type(exc).__name__}",
                    _mask(ctx, mode, curl),
                    str(exc)[:500],
                )
                return
            curl = _mask(ctx, mode, case.as_curl_command(headers=headers, base_url=api.base_url))
            try:
                case.validate_response(response, checks=active[0], headers=headers)
            except FailureGroup as group:
                for failure in group.exceptions:
                    _map(tally, failure, curl, _evidence(response))
            except Failure as failure:
                _map(tally, failure, curl, _evidence(response))
            problem = _envelope_problem(response)
            if problem:
                tally.fail("contract.error-envelope", problem, curl, _evidence(response))
            for p in _sse_payload_problems(validator, op, mode, response)[:1]:
                tally.fail("contract.sse-payload", p, curl, _evidence(response))

        settings = hypothesis.settings(
            max_examples=ctx.config.fuzz_examples,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            derandomize=False,
            print_blob=False,
            report_multiple_bugs=False,
        )
        test = hypothesis.seed(ctx.config.seed)(settings(hypothesis.given(strategy)(one)))  # type: ignore[no-untyped-call]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                test()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing (negative) to generate for this operation
            except Exception as exc:
                tally.setup_error = f"{type(exc).__name__}: {exc}"[:300]
    return tally


def _is_multipart(op: Operation) -> bool:
    content = op.definition.get("requestBody", {}).get("content", {})
    return any(media.startswith("multipart/") for media in content)


def _map(tally: _Tally, failure: Failure, curl: str, evidence: str) -> None:
    check_id = CODE_TO_CHECK.get(failure.code, "contract.response-schema")
    title = failure.title
    detail = (failure.message or "").strip().splitlines()
    message = f"{failure.code} {title}" + (f": {detail[0][:200]}" if detail else "")
    tally.fail(check_id, message, curl, evidence)


def _mask(ctx: Context, mode: str, curl: str) -> str:
    for key, var in ctx.apis[mode].secrets.items():
        curl = curl.replace(key, "${" + var + "}")
    var = key_variable(mode)
    return curl.replace("'Authorization: [Filtered]'", f'"Authorization: Bearer ${{{var}}}"')


@register(
    CheckSpec(
        "contract.observed",
        "contract",
        "Every response the other checks received (scenarios, streams, auth, SDK requests) has a documented "
        "status, a declared Content-Type and a body matching the schema, e.g. integer timestamps in lists "
        "and renames, 201 on upload.",
        Target.OPERATIONS,
    ),
    "observed",
)
def observed(ctx: Context) -> None:
    """Judge what the client's observer collected during the run, per (mode, operation)."""
    for mode in ctx.config.keys:
        for op in ctx.spec.served_by(mode):
            if not ctx.wanted("contract.observed", mode, op.operation_id):
                continue
            seen = ctx.observed.get((mode, op.operation_id), [])
            if not seen:
                msg = "no response of this operation was seen outside fuzzing (the contract.* checks fuzz it)"
                ctx.record("contract.observed", mode, op.operation_id, Outcome.SKIP, msg)
                continue
            bad = [(ex, problems) for ex, problems in seen if problems]
            for ex, problems in bad[:3]:
                msg = (
                    f"{ex.method} {ex.status}: "
                    + "; ".join(problems[:2])
                    + f" ({len(bad)} of {len(seen)} responses)"
                )
                ctx.record("contract.observed", mode, op.operation_id, Outcome.FAIL, msg, ex)
            if not bad:
                statuses = sorted({str(ex.status) for ex, _ in seen})
                msg = f"{len(seen)} responses ({', '.join(statuses)}) match the spec"
                ctx.record("contract.observed", mode, op.operation_id, Outcome.PASS, msg)
