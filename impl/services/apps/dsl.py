"""Dify's app DSL (the YAML the console exports): parse, validate, normalise.

Parsing checks the structure of all five modes.  Whether this server can *run* a mode is
a separate question, answered by `check_runnable` at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MODES = ("chat", "agent-chat", "advanced-chat", "workflow", "completion")
MODEL_CONFIG_MODES = ("chat", "agent-chat", "completion")
WORKFLOW_MODES = ("advanced-chat", "workflow")
# Modes whose runtime this server implements; the others are refused at import.
RUNNABLE_MODES: frozenset[str] = frozenset({"chat", "agent-chat", "completion", "workflow", "advanced-chat"})
PROVIDERS = ("builtin", "openai-compatible")
# Provider spellings that mean one of PROVIDERS (Dify exports `langgenius/openai/openai`).
PROVIDER_ALIASES = {"openai_api_compatible": "openai-compatible", "openai": "openai-compatible"}


def provider_family(provider: str | None) -> str | None:
    """`builtin` or `openai-compatible` for a provider this server runs, else None."""
    if not provider:
        return None
    short = provider.rsplit("/", 1)[-1].lower()
    short = PROVIDER_ALIASES.get(short, short)
    return short if short in PROVIDERS else None


# Feature blocks and their value when the DSL leaves them out (Dify's /parameters defaults).
FEATURE_DEFAULTS: dict[str, Any] = {
    "opening_statement": "",
    "suggested_questions": [],
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False},
    "retriever_resource": {"enabled": False},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
    "sensitive_word_avoidance": {"enabled": False},
    "file_upload": {
        "image": {
            "enabled": False,
            "number_limits": 3,
            "detail": "high",
            "transfer_methods": ["remote_url", "local_file"],
        }
    },
}
FORM_CONTROL_TYPES = (
    "text-input",
    "paragraph",
    "select",
    "number",
    "checkbox",
    "file",
    "file-list",
    "external_data_tool",
    "json_object",
)
# Model-config keys that are generation settings rather than features.
_MODEL_KEYS = (
    "model",
    "pre_prompt",
    "prompt_type",
    "chat_prompt_config",
    "completion_prompt_config",
    "agent_mode",
    "dataset_configs",
    "dataset_query_variable",
    "external_data_tools",
)


class DslError(ValueError):
    """The DSL cannot be used; the message says why and where."""


@dataclass(frozen=True)
class ParsedDsl:
    mode: str
    name: str
    description: str
    icon_type: str | None
    icon: str | None
    icon_background: str | None
    use_icon_as_answer_icon: bool
    dsl_version: str
    model_config: dict[str, Any]
    features: dict[str, Any]
    user_input_form: list[dict[str, Any]]
    workflow_graph: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def provider(self) -> str | None:
        model = self.model_config.get("model")
        return model.get("provider") if isinstance(model, dict) else None


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DslError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _text(value: Any, where: str, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise DslError(f"{where} must be a string, got {type(value).__name__}")


def _features(source: dict[str, Any], where: str) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for key, default in FEATURE_DEFAULTS.items():
        value = source.get(key)
        if value is None:
            features[key] = default
            continue
        if isinstance(default, dict) and not isinstance(value, dict):
            raise DslError(f"{where}.{key} must be a mapping")
        if isinstance(default, list) and not isinstance(value, list):
            raise DslError(f"{where}.{key} must be a list")
        if key == "opening_statement":
            value = _text(value, f"{where}.{key}")
        features[key] = value
    return features


def _check_form(form: Any, where: str) -> list[dict[str, Any]]:
    if form is None:
        return []
    if not isinstance(form, list):
        raise DslError(f"{where} must be a list")
    checked: list[dict[str, Any]] = []
    for i, item in enumerate(form):
        if not isinstance(item, dict) or len(item) != 1:
            raise DslError(f"{where}[{i}] must be a one-key mapping such as {{text-input: {{...}}}}")
        ((control, spec),) = item.items()
        if control not in FORM_CONTROL_TYPES:
            raise DslError(f"{where}[{i}]: unknown control type {control!r}")
        if not isinstance(spec, dict) or not spec.get("variable"):
            raise DslError(f"{where}[{i}].{control} needs a 'variable'")
        checked.append({control: spec})
    return checked


def _start_form(graph: dict[str, Any]) -> list[dict[str, Any]]:
    """The user input form of a workflow app: its start node's variables, in the old shape."""
    nodes = graph.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise DslError("workflow.graph.nodes must be a non-empty list")
    starts = [n for n in nodes if isinstance(n, dict) and (n.get("data") or {}).get("type") == "start"]
    if not starts:  # imported as Dify does (trigger-started graphs have none); runs report it
        return []
    form: list[dict[str, Any]] = []
    for var in (starts[0].get("data") or {}).get("variables") or []:
        if not isinstance(var, dict) or not var.get("variable"):
            raise DslError("each start-node variable needs a 'variable' name")
        control = var.get("type") or "text-input"
        entry = {k: v for k, v in var.items() if k != "type"}
        entry.setdefault("label", var["variable"])
        entry.setdefault("required", False)
        form.append({control: entry})
    return form


def _model(model_config: dict[str, Any]) -> dict[str, Any]:
    model = model_config.get("model")
    if not isinstance(model, dict) or not model:
        raise DslError("model_config.model is missing: a chat, agent-chat or completion app needs a model")
    if not model.get("provider"):
        raise DslError("model_config.model.provider is missing")
    if not model.get("name"):
        raise DslError("model_config.model.name is missing")
    params = model.get("completion_params")
    if params is not None and not isinstance(params, dict):
        raise DslError("model_config.model.completion_params must be a mapping")
    return {
        "provider": str(model["provider"]),
        "name": str(model["name"]),
        "mode": str(model.get("mode") or "chat"),
        "completion_params": dict(params or {}),
    }


def parse_dsl(text: str) -> ParsedDsl:
    """Parse and validate a DSL document; raises DslError with a readable reason."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DslError(f"the DSL is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict):
        raise DslError("the DSL must be a YAML mapping with 'kind', 'version' and 'app'")
    kind = doc.get("kind", "app")
    if kind != "app":
        raise DslError(f"kind must be 'app', got {kind!r}")
    app = _mapping(doc.get("app"), "app")
    if not app:
        raise DslError("the DSL has no 'app' section")
    mode = app.get("mode")
    if mode not in MODES:
        raise DslError(f"app.mode must be one of {', '.join(MODES)}; got {mode!r}")
    name = _text(app.get("name"), "app.name").strip()
    if not name:
        raise DslError("app.name is missing")

    model_config: dict[str, Any] = {}
    graph: dict[str, Any] | None = None
    if mode in MODEL_CONFIG_MODES:
        source = _mapping(doc.get("model_config"), "model_config")
        if not source:
            raise DslError(f"a {mode} app needs a 'model_config' section")
        model_config = {k: source[k] for k in _MODEL_KEYS if k in source}
        model_config["model"] = _model(source)
        model_config["pre_prompt"] = _text(source.get("pre_prompt"), "model_config.pre_prompt")
        features = _features(source, "model_config")
        form = _check_form(source.get("user_input_form"), "model_config.user_input_form")
    else:
        workflow = _mapping(doc.get("workflow"), "workflow")
        if not workflow:
            raise DslError(f"a {mode} app needs a 'workflow' section")
        graph = _mapping(workflow.get("graph"), "workflow.graph")
        if not graph:
            raise DslError("workflow.graph is missing")
        features = _features(_mapping(workflow.get("features"), "workflow.features"), "workflow.features")
        form = _start_form(graph)
        for key in ("environment_variables", "conversation_variables"):
            if key in workflow:
                model_config[key] = workflow[key]

    return ParsedDsl(
        mode=mode,
        name=name,
        description=_text(app.get("description"), "app.description"),
        icon_type=app.get("icon_type") or ("emoji" if app.get("icon") else None),
        icon=_text(app.get("icon"), "app.icon") or None,
        icon_background=_text(app.get("icon_background"), "app.icon_background") or None,
        use_icon_as_answer_icon=bool(app.get("use_icon_as_answer_icon", False)),
        dsl_version=_text(doc.get("version"), "version"),
        model_config=model_config,
        features=features,
        user_input_form=form,
        workflow_graph=graph,
        raw=doc,
    )


def check_runnable(parsed: ParsedDsl, runnable: frozenset[str] = RUNNABLE_MODES) -> None:
    """Refuse a DSL this server cannot even store (mode not implemented, graph unreadable).

    Everything else Dify imports is imported; what cannot run here (node types, providers, tools,
    knowledge bases) is reported by `impl.services.requirements` as warnings instead."""
    if parsed.mode not in runnable:
        raise DslError(
            f"app mode {parsed.mode!r} is not implemented by this server yet "
            f"(it runs: {', '.join(sorted(runnable))}); the DSL itself is valid"
        )
    if parsed.mode in WORKFLOW_MODES:
        from impl.engine import GraphError, parse_graph

        try:
            parse_graph(parsed.workflow_graph)
        except GraphError as exc:
            raise DslError(str(exc)) from exc
