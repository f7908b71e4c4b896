"""DSL parsing and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from impl.services.apps.dsl import DslError, check_runnable, parse_dsl, provider_family

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "apps"

CHAT = """
kind: app
version: 0.3.0
app: {mode: chat, name: Tiny, icon: "x"}
model_config:
  model: {provider: builtin, name: echo, mode: chat, completion_params: {temperature: 0.1}}
  pre_prompt: hello
  user_input_form:
  - text-input: {variable: name, label: Name, required: true}
"""


@pytest.mark.parametrize("mode", ["chat", "completion", "agent-chat", "advanced-chat", "workflow"])
def test_every_example_parses(mode: str) -> None:
    parsed = parse_dsl((EXAMPLES / f"{mode}.yml").read_text())
    assert parsed.mode == mode
    assert parsed.name.startswith("Demo")
    assert parsed.features["suggested_questions_after_answer"]["enabled"] in (True, False)
    assert parsed.user_input_form or mode == "agent-chat"


def test_chat_fields_and_feature_defaults() -> None:
    parsed = parse_dsl(CHAT)
    assert parsed.model_config["model"] == {
        "provider": "builtin",
        "name": "echo",
        "mode": "chat",
        "completion_params": {"temperature": 0.1},
    }
    assert parsed.model_config["pre_prompt"] == "hello"
    assert parsed.features["speech_to_text"] == {"enabled": False}
    assert parsed.features["file_upload"]["image"]["number_limits"] == 3
    assert parsed.user_input_form == [{"text-input": {"variable": "name", "label": "Name", "required": True}}]
    assert parsed.icon_type == "emoji"


def test_workflow_form_comes_from_start_node() -> None:
    parsed = parse_dsl((EXAMPLES / "workflow.yml").read_text())
    assert parsed.user_input_form == [
        {
            "text-input": {
                "label": "Name",
                "max_length": 48,
                "options": [],
                "required": True,
                "variable": "name",
            }
        }
    ]
    assert parsed.workflow_graph is not None and len(parsed.workflow_graph["nodes"]) == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("app: [unclosed", "not valid YAML"),
        ("- just a list", "must be a YAML mapping"),
        ("kind: dataset\napp: {mode: chat, name: x}", "kind must be 'app'"),
        ("kind: app\nversion: 1", "no 'app' section"),
        ("app: {mode: robot, name: x}", "app.mode must be one of"),
        ("app: {mode: chat}\nmodel_config: {model: {provider: builtin, name: e}}", "app.name is missing"),
        ("app: {mode: chat, name: x}", "needs a 'model_config' section"),
        ("app: {mode: chat, name: x}\nmodel_config: {pre_prompt: hi}", "model_config.model is missing"),
        ("app: {mode: completion, name: x}\nmodel_config: {model: {name: e}}", "model.provider is missing"),
        ("app: {mode: chat, name: x}\nmodel_config: {model: {provider: builtin}}", "model.name is missing"),
        ("app: {mode: workflow, name: x}", "needs a 'workflow' section"),
        (
            "app: {mode: chat, name: x}\nmodel_config: {model: {provider: builtin, name: e}, "
            "user_input_form: [{slider: {variable: v}}]}",
            "unknown control type 'slider'",
        ),
        (
            "app: {mode: chat, name: x}\nmodel_config: {model: {provider: builtin, name: e}, "
            "speech_to_text: true}",
            "speech_to_text must be a mapping",
        ),
    ],
)
def test_invalid_dsl_is_explained(text: str, fragment: str) -> None:
    with pytest.raises(DslError) as info:
        parse_dsl(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("mode", ["agent-chat", "advanced-chat", "workflow"])
def test_modes_without_runtime_are_refused_by_name(mode: str) -> None:
    parsed = parse_dsl((EXAMPLES / f"{mode}.yml").read_text())
    with pytest.raises(DslError) as info:
        # every mode is runnable now; a server built with fewer runtimes still refuses by name
        check_runnable(parsed, frozenset({"chat", "completion"}))
    assert f"app mode {mode!r} is not implemented" in str(info.value)


def test_what_cannot_run_here_is_imported_as_dify_does() -> None:
    # an unknown provider or a graph without a start node is a warning (impl.services.requirements),
    # not a refusal: Dify imports both
    check_runnable(parse_dsl(CHAT.replace("provider: builtin", "provider: anthropic")))
    no_start = "app: {mode: workflow, name: x}\nworkflow: {graph: {nodes: [{id: a, data: {type: end}}]}}"
    parsed = parse_dsl(no_start)
    check_runnable(parsed)
    assert parsed.user_input_form == []


@pytest.mark.parametrize(
    ("provider", "family"),
    [
        ("builtin", "builtin"),
        ("openai-compatible", "openai-compatible"),
        ("langgenius/openai/openai", "openai-compatible"),
        ("langgenius/openai_api_compatible/openai_api_compatible", "openai-compatible"),
        ("anthropic", None),
        (None, None),
    ],
)
def test_provider_family(provider: str | None, family: str | None) -> None:
    assert provider_family(provider) == family
