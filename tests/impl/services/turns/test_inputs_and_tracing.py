from __future__ import annotations

import pytest

from impl.errors import ApiError
from impl.services.apps.chat_config import load_config, parse_file_upload, parse_input_form
from impl.services.apps.inputs import render_template, validate_inputs
from impl.services.turns.tracing import resolve_trace_id

FORM = parse_input_form([
    {"text-input": {"variable": "name", "label": "Name", "required": True, "max_length": 5}},
    {"select": {"variable": "tone", "options": ["a", "b"], "default": "a"}},
    {"number": {"variable": "n"}},
    {"paragraph": {"variable": "bio"}},
])  # fmt: skip


def test_inputs_keep_declared_apply_defaults_and_coerce() -> None:
    clean = validate_inputs(FORM, {"name": "Ann\x00", "n": "3.5", "extra": "dropped"})
    assert clean == {"name": "Ann", "tone": "a", "n": 3.5}
    assert validate_inputs(FORM, {"name": "Bo", "n": ""}) == {"name": "Bo", "tone": "a"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "name is required in input form"),
        ({"name": ""}, "name is required in input form"),
        ({"name": 3}, "(type 'text-input') name in input form must be a string"),
        ({"name": "toolong"}, "name in input form must be less than 5 characters"),
        ({"name": "x", "tone": "c"}, "tone in input form must be one of the following: ['a', 'b']"),
        ({"name": "x", "n": "abc"}, "n in input form must be a valid number"),
        ({"name": "x", "n": True}, "n in input form must be a valid number"),
    ],
)
def test_input_errors_use_difys_messages(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ApiError) as info:
        validate_inputs(FORM, raw)
    assert (info.value.code, info.value.status, info.value.message) == ("invalid_param", 400, message)


def test_template_substitution() -> None:
    assert render_template("Hi {{ name }}, {{missing}}!", {"name": "Ann"}) == "Hi Ann, !"


def test_trace_id_priority_and_no_fallback() -> None:
    assert resolve_trace_id({"x-trace-id": "h1"}, {"trace_id": "q1"}, {"trace_id": "b1"}) == "h1"
    assert resolve_trace_id({}, {"trace_id": "q1"}, {"trace_id": "b1"}) == "q1"
    assert resolve_trace_id({}, {}, {"trace_id": "b_1-x"}) == "b_1-x"
    assert resolve_trace_id({"x-trace-id": "bad id"}, {}, {"trace_id": "b1"}) is None
    assert resolve_trace_id({}, {}, {"trace_id": "x" * 129}) is None
    assert resolve_trace_id({}, {}, {"trace_id": 7}) is None
    assert resolve_trace_id({}, {}, None) is None


def test_file_upload_config_both_shapes() -> None:
    legacy = parse_file_upload(
        {"image": {"enabled": True, "number_limits": 2, "transfer_methods": ["local_file"]}}
    )
    assert legacy.enabled and legacy.number_limits == 2 and legacy.transfer_methods == ("local_file",)
    modern = parse_file_upload({"enabled": True, "allowed_file_types": ["document"], "number_limits": 5})
    assert modern.allowed_types == ("document",) and modern.number_limits == 5
    assert not parse_file_upload(None).enabled


class _Version:
    model_config = {
        "model": {"provider": "builtin", "name": "echo", "completion_params": {"token_delay": 0.1}},
        "pre_prompt": "Be {{x}}",
    }
    features = {"suggested_questions_after_answer": {"enabled": True}, "opening_statement": "Hi"}
    user_input_form = [{"text-input": {"variable": "x"}}]


def test_load_config() -> None:
    config = load_config(_Version())
    assert config.model.provider == "builtin" and config.model.completion_params == {"token_delay": 0.1}
    assert config.pre_prompt == "Be {{x}}" and config.opening_statement == "Hi"
    assert config.suggested_questions_after_answer and config.user_input_form[0].variable == "x"
