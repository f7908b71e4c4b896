"""Model-backed nodes: llm, question-classifier, parameter-extractor.

They run through the app's providers. With the builtin model every reply is deterministic:
the classifier picks the category named first in the reply (the builtin model restates the
query), the extractor falls back to reading `name: value` pairs, numbers and options from the
query when the reply is not the JSON object a real model returns.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from impl.engine.graph import Node
from impl.engine.nodes import structured
from impl.engine.nodes.basic import render_jinja
from impl.engine.runner import NodeError, NodeResult, Scope, WorkflowRunner, handles
from impl.engine.variables import as_mapping, selector_of, to_text
from impl.providers import (
    ImageInput,
    ModelRequest,
    PromptMessage,
    TextDelta,
    Usage,
    structured_output_mode,
    until_stopped,
)
from impl.providers.builtin import count_tokens

ROLES = ("system", "user", "assistant")


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "total_price": "0",
        "currency": "USD",
        "latency": 0.0,
    }


def _model_section(node: Node) -> Mapping[str, Any]:
    model = node.data.get("model")
    if not isinstance(model, Mapping):
        raise NodeError(f"node {node.id} has no model configured", "LLMNodeError")
    return model


def _history(runner: WorkflowRunner, node: Node) -> list[PromptMessage]:
    memory = node.data.get("memory")
    if not isinstance(memory, Mapping) or not runner.hooks.history:
        return []
    history = list(runner.hooks.history)
    window = memory.get("window")
    if isinstance(window, Mapping) and window.get("enabled"):
        size = int(window.get("size") or 0)
        if size > 0:
            history = history[-2 * size :]
    return history


async def invoke(
    runner: WorkflowRunner,
    node: Node,
    messages: list[PromptMessage],
    *,
    stream: bool,
    schema: Mapping[str, Any] | None = None,
) -> tuple[str, Usage]:
    """Run the node's model; tokens go to the stream router when `stream` is set.  With a
    structured-output `schema` the model is asked for JSON conforming to it (natively or by
    instruction, see `structured`)."""
    section = _model_section(node)
    model = runner.hooks.build_model(section)
    raw = section.get("completion_params")
    params = dict(raw) if isinstance(raw, Mapping) else {}
    if schema is not None:
        mode = structured_output_mode(model)
        if mode == "prompt":
            messages = structured.with_instruction(messages, schema)
            json_format = getattr(model, "json_response_format", None)
            if isinstance(json_format, str):  # the model's JSON mode, as Dify sets it
                params["response_format"] = json_format
        else:
            params.update(structured.schema_params(schema, mode))
    request = ModelRequest(messages=tuple(messages), params=params)
    parts: list[str] = []
    usage: Usage | None = None
    items = until_stopped(model.stream(request), runner.stop_event, on_stop=runner.check_stop)
    async with contextlib.aclosing(items):
        async for item in items:
            if isinstance(item, TextDelta):
                parts.append(item.text)
                if stream:
                    runner.stream_delta(node, item.text)
            else:
                usage = item
    if usage is None:
        usage = Usage(sum(count_tokens(m.content) + 3 for m in messages), len(parts))
    return "".join(parts), usage


def _images(runner: WorkflowRunner, node: Node) -> tuple[ImageInput, ...]:
    vision = node.data.get("vision")
    if not isinstance(vision, Mapping) or not vision.get("enabled"):
        return ()
    configs = as_mapping(vision.get("configs"))
    selector = selector_of(configs.get("variable_selector")) or ["sys", "files"]
    files = runner.pool.value(selector) or []
    if isinstance(files, Mapping):
        files = [files]
    images: list[ImageInput] = []
    for f in files if isinstance(files, list) else []:
        if isinstance(f, Mapping) and f.get("type") == "image":
            url = f.get("remote_url") or f.get("url")
            if isinstance(url, str) and url.startswith(("http://", "https://", "data:")):
                images.append(ImageInput(url, str(configs.get("detail") or "high")))
    return tuple(images)


def _prompt_text(runner: WorkflowRunner, node: Node, item: Mapping[str, Any], context: str) -> str:
    if item.get("edition_type") == "jinja2":
        variables: dict[str, Any] = {}
        config = node.data.get("prompt_config")
        for var in (config or {}).get("jinja2_variables") or [] if isinstance(config, Mapping) else []:
            if isinstance(var, Mapping) and var.get("variable"):
                variables[str(var["variable"])] = runner.pool.value(selector_of(var.get("value_selector")))
        text = render_jinja(str(item.get("jinja2_text") or ""), variables)
    else:
        text = runner.pool.render(str(item.get("text") or ""))
    return text.replace("{{#context#}}", context)


# The keys of a cited passage on the wire (`RetrieverResource` of the spec).
_RESOURCE_KEYS = {
    "position": "position",
    "dataset_id": "dataset_id",
    "dataset_name": "dataset_name",
    "document_id": "document_id",
    "document_name": "document_name",
    "data_source_type": "data_source_type",
    "segment_id": "segment_id",
    "score": "score",
    "hit_count": "segment_hit_count",
    "word_count": "segment_word_count",
    "segment_position": "segment_position",
    "index_node_hash": "segment_index_node_hash",
}


def citation(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The citation of a knowledge-retrieval result item (Dify's `_convert_to_original_retriever_
    resource`): only items whose `metadata._source` is `knowledge`."""
    metadata = item.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("_source") != "knowledge":
        return None
    resource = {wire: metadata.get(key) for wire, key in _RESOURCE_KEYS.items()}
    resource["content"] = item.get("content")
    return resource


def llm_context(runner: WorkflowRunner, node: Node) -> tuple[str, list[dict[str, Any]]] | None:
    """The text `{{#context#}}` stands for and the passages it cites (Dify's `_fetch_context`):
    a string is used as it is; a list joins its strings and its items' `content` with newlines
    (an object without `content` fails the node). None when the node has no context."""
    config = node.data.get("context")
    if not isinstance(config, Mapping) or not config.get("enabled"):
        return None
    selector = selector_of(config.get("variable_selector"))
    if not selector:
        return None
    value = runner.pool.value(selector)
    if isinstance(value, str):
        return value, []
    if not isinstance(value, list):  # Dify reads only strings and arrays
        return None
    parts: list[str] = []
    resources: list[dict[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            parts.append(item)
            continue
        if not isinstance(item, Mapping) or "content" not in item:
            raise NodeError(f"Invalid context structure: {item}", "InvalidContextStructureError")
        parts.append(to_text(item["content"]))
        resource = citation(item)
        if resource is not None:
            resources.append(resource)
    return "\n".join(parts).strip(), resources


@handles("llm")
async def llm_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    schema = structured.node_schema(node)
    context = ""
    fetched = llm_context(runner, node)
    if fetched is not None:
        context, resources = fetched
        runner.retriever_resources = resources
    template = node.data.get("prompt_template")
    items = template if isinstance(template, list) else [template] if isinstance(template, Mapping) else []
    messages: list[PromptMessage] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        role = item.get("role")
        text = _prompt_text(runner, node, item, context)
        if role == "system":
            messages.append(PromptMessage("system", text))
        elif role == "assistant":
            messages.append(PromptMessage("assistant", text))
        else:
            messages.append(PromptMessage("user", text))
    history = _history(runner, node)
    if history:
        split = 0
        while split < len(messages) and messages[split].role == "system":
            split += 1
        messages[split:split] = history
    memory = node.data.get("memory")
    if isinstance(memory, Mapping) and memory.get("query_prompt_template"):
        messages.append(PromptMessage("user", runner.pool.render(str(memory["query_prompt_template"]))))
    if not any(m.role == "user" for m in messages):
        query = runner.pool.value(["sys", "query"])
        messages.append(PromptMessage("user", to_text(query)))
    images = _images(runner, node)
    if images:
        last = max(i for i, m in enumerate(messages) if m.role == "user")
        messages[last] = PromptMessage("user", messages[last].content, images)
    text, usage = await invoke(runner, node, messages, stream=True, schema=schema)
    section = _model_section(node)
    outputs: dict[str, Any] = {"text": text, "usage": usage_json(usage), "finish_reason": "stop"}
    if schema is not None:
        outputs["structured_output"] = structured.parse(text)
    return NodeResult(
        outputs=outputs,
        inputs={},
        process_data={
            "model_mode": str(section.get("mode") or "chat"),
            "prompts": [{"role": m.role, "text": m.content, "files": []} for m in messages],
            "usage": usage_json(usage),
            "finish_reason": "stop",
            "model_provider": str(section.get("provider") or ""),
            "model_name": str(section.get("name") or ""),
        },
        tokens=usage.total_tokens,
        prompt_tokens=usage.prompt_tokens,
    )


@handles("question-classifier")
async def classifier_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    query = to_text(runner.pool.value(selector_of(node.data.get("query_variable_selector"))))
    classes = [c for c in node.data.get("classes") or [] if isinstance(c, Mapping) and c.get("id")]
    if not classes:
        raise NodeError("the question classifier has no classes", "QuestionClassifierNodeError")
    instruction = runner.pool.render(str(node.data.get("instruction") or ""))
    listing = "\n".join(f"- {c.get('name')}" for c in classes)
    system = (
        "Reply with exactly one category name for the user's text, nothing else. "
        f"Categories:\n{listing}\n{instruction}".strip()
    )
    messages = [PromptMessage("system", system), *_history(runner, node), PromptMessage("user", query)]
    reply, usage = await invoke(runner, node, messages, stream=False)
    lowered = reply.lower()
    chosen = classes[0]
    best = len(lowered) + 1
    for cls in classes:
        name = str(cls.get("name") or "").strip().lower()
        pos = lowered.find(name) if name else -1
        if 0 <= pos < best:
            chosen, best = cls, pos
    return NodeResult(
        outputs={
            "class_name": str(chosen.get("name") or ""),
            "class_id": str(chosen["id"]),
            "usage": usage_json(usage),
        },
        inputs={"query": query},
        process_data={"model_reply": reply, "usage": usage_json(usage)},
        handle=str(chosen["id"]),
        tokens=usage.total_tokens,
        prompt_tokens=usage.prompt_tokens,
    )


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DEFAULTS = {"number": 0, "bool": False, "boolean": False, "string": "", "select": ""}


def _coerce(kind: str, value: Any, options: list[str]) -> Any:
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        match = _NUMBER.search(str(value))
        if not match:
            return None
        number = float(match.group())
        return int(number) if number.is_integer() else number
    if kind in ("bool", "boolean"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        return True if text in ("true", "yes", "1") else False if text in ("false", "no", "0") else None
    if kind == "select":
        text = str(value).strip()
        return next((o for o in options if o.lower() == text.lower()), None)
    if kind.startswith("array"):
        items = value if isinstance(value, list) else [p.strip() for p in str(value).split(",") if p.strip()]
        if kind == "array[number]":
            return [c for c in (_coerce("number", i, []) for i in items) if c is not None]
        return items
    return value if isinstance(value, str) else to_text(value)


def _from_json(reply: str) -> dict[str, Any] | None:
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        parsed = json.loads(reply[start : end + 1])
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _from_text(name: str, kind: str, options: list[str], text: str) -> Any:
    stop = ";\n" if kind.startswith("array") else ",;\n"
    pair = re.search(rf"\b{re.escape(name)}\s*[:=]\s*([^{stop}]+)", text, re.IGNORECASE)
    if pair:
        return pair.group(1).strip().rstrip(".")
    if kind == "number":
        match = _NUMBER.search(text)
        return match.group() if match else None
    if kind in ("bool", "boolean"):
        words = set(re.findall(r"[a-z]+", text.lower()))
        return "true" if words & {"true", "yes"} else "false" if words & {"false", "no"} else None
    if kind == "select":
        lowered = text.lower()
        hits = [(lowered.find(o.lower()), o) for o in options if o and o.lower() in lowered]
        return min(hits)[1] if hits else None
    return None


@handles("parameter-extractor")
async def extractor_node(runner: WorkflowRunner, node: Node, _scope: Scope) -> NodeResult:
    query = to_text(runner.pool.value(selector_of(node.data.get("query"))))
    params = [p for p in node.data.get("parameters") or [] if isinstance(p, Mapping) and p.get("name")]
    instruction = runner.pool.render(str(node.data.get("instruction") or ""))
    schema = {
        str(p["name"]): {
            "type": str(p.get("type") or "string"),
            "description": str(p.get("description") or ""),
        }
        for p in params
    }
    system = (
        "Extract the parameters below from the user's text and reply with one JSON object only. "
        f"Parameters: {json.dumps(schema, ensure_ascii=False)} {instruction}".strip()
    )
    messages = [PromptMessage("system", system), *_history(runner, node), PromptMessage("user", query)]
    reply, usage = await invoke(runner, node, messages, stream=False)
    parsed = _from_json(reply)
    outputs: dict[str, Any] = {}
    missing: list[str] = []
    for p in params:
        name, kind = str(p["name"]), str(p.get("type") or "string")
        options = [str(o) for o in p.get("options") or []]
        raw = parsed.get(name) if parsed is not None else _from_text(name, kind, options, query)
        value = _coerce(kind, raw, options)
        if value is None:
            if p.get("required"):
                missing.append(name)
            value = [] if kind.startswith("array") else _DEFAULTS.get(kind, "")
        outputs[name] = value
    outputs["__is_success"] = 0 if missing else 1
    outputs["__reason"] = f"missing required parameter(s): {', '.join(missing)}" if missing else None
    outputs["__usage"] = usage_json(usage)
    return NodeResult(
        outputs=outputs,
        inputs={"query": query},
        process_data={"model_reply": reply, "usage": usage_json(usage)},
        tokens=usage.total_tokens,
        prompt_tokens=usage.prompt_tokens,
    )
