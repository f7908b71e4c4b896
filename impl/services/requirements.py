"""What an imported app needs that this server may not have: one checker, an explicit table of checks.

Import accepts every DSL Dify accepts; this module says what of it cannot run here. Each check
in `CHECKS` reads the parsed DSL and yields `Finding`s; `dify-service apps import` prints them as
warnings and `dify-service apps check APP` prints them alone. At run time the same gaps end the
node (or, for a chat app's model, the request) with a clear Dify error.

| check        | looks at                                                          | answered by        |
| ------------ | ----------------------------------------------------------------- | ------------------ |
| `node-types` | every graph node's type, the start node, container start nodes    | `impl.engine`      |
| `models`     | `model_config.model`, llm / classifier / extractor / agent nodes  | `model_problem`    |
| `tools`      | agent tools (`agent_mode.tools`), workflow tool and agent nodes   | `tool_problem`     |
| `knowledge`  | datasets of a chat app, knowledge-retrieval nodes                 | `knowledge_problem`|

`model_problem`, `tool_problem` and `knowledge_problem` are the seams where model routing
(`impl.providers.routing`), the tool registry (`impl.tools`) and the local knowledge bases
(`impl.knowledge`) answer; each returns None when the thing is usable, else the reason it is not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from impl.engine import Graph, GraphError, graph_problems, parse_graph
from impl.knowledge import CONFIG_ENV as KNOWLEDGE_ENV
from impl.knowledge import active as knowledge_config
from impl.knowledge import env_name
from impl.providers import is_configured, provider_key
from impl.services.apps.chat_config import dataset_ids
from impl.services.apps.dsl import MODEL_CONFIG_MODES, WORKFLOW_MODES, ParsedDsl
from impl.tools import lookup_tool

MODEL_NODE_TYPES = ("llm", "question-classifier", "parameter-extractor")
# Node types whose gap a dedicated check names more precisely than `node-types` would.
DELEGATED_TYPES = {"tool": "tools", "knowledge-retrieval": "knowledge"}


@dataclass(frozen=True)
class Environment:
    """What the server offers the app: today, whether the OpenAI-compatible provider has a key."""

    openai_api_key: bool = False


@dataclass(frozen=True)
class Finding:
    check: str
    where: str  # "model_config", "node <id> (<title>)" or "graph"
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.where}: {self.message}"


# ---- the seams -------------------------------------------------------------------------------


def model_problem(provider: str, name: str, env: Environment) -> str | None:
    """Why the model `provider`/`name` cannot be called here, or None when it can: the model
    routing (`impl.providers.routing`) knows the provider and has its key (the server's
    OpenAI settings count for the two OpenAI provider names)."""
    if env.openai_api_key and provider_key(provider) in ("openai", "openai_api_compatible"):
        return None
    usable, why = is_configured(provider, name)
    if usable:
        return None
    return f"model '{name}': {why.rstrip('.')}; runs answer provider_not_initialize"


def tool_problem(provider_type: str, provider_id: str, tool_name: str, *, in_graph: bool) -> str | None:
    """Why a tool cannot be called here, or None when it can: the tool registry (`impl.tools`)
    carries it or maps its provider to a configured MCP server."""
    if lookup_tool(provider_id, tool_name) is not None:
        return None
    label = f"tool '{tool_name}' of {provider_type or 'builtin'} provider '{provider_id}'"
    outcome = "the node fails with ToolNodeError" if in_graph else "chat turns run without it"
    return f"{label} is neither builtin here nor mapped to an MCP server; {outcome}"


def knowledge_problem(dataset_ids: list[str]) -> str | None:
    """Why some of `dataset_ids` return nothing here, or None when every one is mapped to local
    files by the knowledge configuration (`impl.knowledge.config`). As in Dify, an unavailable
    dataset is skipped: the app runs and retrieval returns nothing for it."""
    try:
        config = knowledge_config()
    except ValueError as exc:
        return f"the knowledge configuration cannot be read ({exc}); retrieval returns nothing"
    unmapped = [i for i in dataset_ids if config.get(i) is None]
    if not unmapped:
        return None
    return (
        f"dataset(s) {', '.join(unmapped)} not mapped to local files (set {KNOWLEDGE_ENV} or "
        f"{env_name(unmapped[0])}); retrieval returns nothing for them"
    )


# ---- the checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What the checks read: the parsed DSL and, for workflow modes, its graph."""

    parsed: ParsedDsl
    graph: Graph | None
    env: Environment


def _where(node_id: str | None, graph: Graph | None) -> str:
    if node_id is None or graph is None:
        return "graph"
    node = graph.nodes.get(node_id)
    return f"node {node_id} ({node.title})" if node is not None else f"node {node_id}"


def check_node_types(subject: Subject) -> Iterator[Finding]:
    if subject.graph is None:
        return
    for problem in graph_problems(subject.graph, subject.parsed.mode):
        node = subject.graph.nodes.get(problem.node_id or "")
        if node is not None and node.type in DELEGATED_TYPES and "cannot run here" in problem.message:
            continue
        yield Finding("node-types", _where(problem.node_id, subject.graph), problem.message)


def _agent_parameter(data: Mapping[str, Any], name: str) -> Any:
    """An agent node's `agent_parameters.<name>.value`."""
    params = data.get("agent_parameters")
    raw = params.get(name) if isinstance(params, Mapping) else None
    return raw.get("value") if isinstance(raw, Mapping) else None


def check_models(subject: Subject) -> Iterator[Finding]:
    parsed = subject.parsed
    if parsed.mode in MODEL_CONFIG_MODES:
        model = parsed.model_config.get("model") or {}
        reason = model_problem(str(model.get("provider") or ""), str(model.get("name") or ""), subject.env)
        if reason:
            yield Finding("models", "model_config", reason)
    for node in subject.graph.nodes.values() if subject.graph else ():
        if node.type not in MODEL_NODE_TYPES and node.type != "agent":
            continue
        model = node.data.get("model") if node.type != "agent" else _agent_parameter(node.data, "model")
        model = model if isinstance(model, Mapping) else {}
        name = str(model.get("name") or model.get("model") or "")
        reason = model_problem(str(model.get("provider") or ""), name, subject.env)
        if reason:
            yield Finding("models", _where(node.id, subject.graph), reason)


def check_tools(subject: Subject) -> Iterator[Finding]:
    agent_mode = subject.parsed.model_config.get("agent_mode")
    tools = agent_mode.get("tools") if isinstance(agent_mode, Mapping) else None
    for entry in tools if isinstance(tools, list) else []:
        if not isinstance(entry, Mapping) or entry.get("enabled", True) is False:
            continue
        reason = tool_problem(
            str(entry.get("provider_type") or "builtin"),
            str(entry.get("provider_id") or entry.get("provider_name") or ""),
            str(entry.get("tool_name") or ""),
            in_graph=False,
        )
        if reason:
            yield Finding("tools", "model_config.agent_mode", reason)
    for node in subject.graph.nodes.values() if subject.graph else ():
        if node.type == "agent":
            entries = _agent_parameter(node.data, "tools")
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, Mapping) or entry.get("enabled", True) is False:
                    continue
                reason = tool_problem(
                    str(entry.get("type") or "builtin"),
                    str(entry.get("provider_name") or ""),
                    str(entry.get("tool_name") or ""),
                    in_graph=True,
                )
                if reason:
                    yield Finding(
                        "tools",
                        _where(node.id, subject.graph),
                        reason.replace("ToolNodeError", "AgentNodeError"),
                    )
            continue
        if node.type != "tool":
            continue
        reason = tool_problem(
            str(node.data.get("provider_type") or ""),
            str(node.data.get("provider_id") or node.data.get("provider_name") or ""),
            str(node.data.get("tool_name") or ""),
            in_graph=True,
        )
        if reason:
            yield Finding("tools", _where(node.id, subject.graph), reason)


def check_knowledge(subject: Subject) -> Iterator[Finding]:
    datasets = dataset_ids(subject.parsed.model_config)
    if datasets:
        reason = knowledge_problem(datasets)
        if reason:
            where = "model_config.dataset_configs"
            yield Finding("knowledge", where, reason + "; the app answers without them")
    for node in subject.graph.nodes.values() if subject.graph else ():
        if node.type != "knowledge-retrieval":
            continue
        ids = [str(i) for i in node.data.get("dataset_ids") or [] if i]
        reason = knowledge_problem(ids)
        if reason:
            yield Finding("knowledge", _where(node.id, subject.graph), reason)


CHECKS: tuple[tuple[str, Callable[[Subject], Iterator[Finding]]], ...] = (
    ("node-types", check_node_types),
    ("models", check_models),
    ("tools", check_tools),
    ("knowledge", check_knowledge),
)


def check_app(parsed: ParsedDsl, env: Environment) -> list[Finding]:
    """Every finding of every check, in table order."""
    graph: Graph | None = None
    if parsed.mode in WORKFLOW_MODES:
        try:
            graph = parse_graph(parsed.workflow_graph)
        except GraphError as exc:  # import refuses these; a stored one is reported, not raised
            return [Finding("node-types", "graph", str(exc))]
    subject = Subject(parsed, graph, env)
    return [finding for _name, check in CHECKS for finding in check(subject)]


def environment_of(openai_api_key: str | None) -> Environment:
    return Environment(openai_api_key=bool(openai_api_key))


def check_text(dsl_text: str, env: Environment) -> list[Finding]:
    """Check a DSL document (raises `DslError` when it is not one)."""
    from impl.services.apps.dsl import parse_dsl

    return check_app(parse_dsl(dsl_text), env)
