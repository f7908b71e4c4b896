"""The parts of an app's DSL that chat and completion generation read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from impl.providers import ModelConfig

DEFAULT_HISTORY_TURNS = 10
FILE_TYPES = ("image", "document", "audio", "video", "custom")


@dataclass(frozen=True)
class InputVariable:
    """One entry of `user_input_form` (normalised from the one-key-object structure)."""

    type: str
    variable: str
    label: str = ""
    required: bool = False
    default: Any = None
    max_length: int | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileUploadConfig:
    enabled: bool = False
    allowed_types: tuple[str, ...] = ("image",)
    allowed_extensions: tuple[str, ...] = ()
    transfer_methods: tuple[str, ...] = ("remote_url", "local_file")
    number_limits: int = 3


@dataclass(frozen=True)
class ChatAppConfig:
    model: ModelConfig
    pre_prompt: str = ""
    opening_statement: str = ""
    user_input_form: tuple[InputVariable, ...] = ()
    file_upload: FileUploadConfig = field(default_factory=FileUploadConfig)
    suggested_questions_after_answer: bool = False
    history_turns: int = DEFAULT_HISTORY_TURNS


class HasAppConfig(Protocol):
    """An app version or the request's AppContext: both carry these three sections."""

    @property
    def model_config(self) -> dict[str, Any]: ...
    @property
    def features(self) -> dict[str, Any]: ...
    @property
    def user_input_form(self) -> list[Any]: ...


def _section(version: HasAppConfig | None, key: str) -> Any:
    if version is None:
        return None
    for source in (version.features or {}, version.model_config or {}):
        if isinstance(source, Mapping) and key in source:
            return source[key]
    return None


def _enabled(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value.get("enabled"))


def parse_input_form(raw: Any) -> tuple[InputVariable, ...]:
    out: list[InputVariable] = []
    if not isinstance(raw, list):
        return ()
    for item in raw:
        if not isinstance(item, Mapping) or not item:
            continue
        if "variable" in item and "type" in item:  # flat structure
            kind, spec = str(item["type"]), item
        else:
            kind, spec = next(iter(item.items()))
            if not isinstance(spec, Mapping):
                continue
        variable = spec.get("variable")
        if not isinstance(variable, str) or not variable:
            continue
        max_length = spec.get("max_length")
        options = spec.get("options") or ()
        out.append(
            InputVariable(
                type=str(kind),
                variable=variable,
                label=str(spec.get("label") or variable),
                required=bool(spec.get("required", False)),
                default=spec.get("default"),
                max_length=int(max_length)
                if isinstance(max_length, int | float) and max_length > 0
                else None,
                options=tuple(str(o) for o in options) if isinstance(options, list | tuple) else (),
            )
        )
    return tuple(out)


def parse_file_upload(raw: Any) -> FileUploadConfig:
    if not isinstance(raw, Mapping):
        return FileUploadConfig()
    image = raw.get("image")
    if "allowed_file_types" in raw or "enabled" in raw:
        enabled = bool(raw.get("enabled"))
        types = tuple(str(t) for t in raw.get("allowed_file_types") or ("image",))
        exts = tuple(str(e).lower().lstrip(".") for e in raw.get("allowed_file_extensions") or ())
        methods = raw.get("allowed_file_upload_methods") or raw.get("allowed_upload_methods")
        limit = raw.get("number_limits")
        if isinstance(image, Mapping):
            enabled = enabled or bool(image.get("enabled"))
            methods = methods or image.get("transfer_methods")
            limit = limit or image.get("number_limits")
        return FileUploadConfig(
            enabled=enabled,
            allowed_types=types,
            allowed_extensions=exts,
            transfer_methods=tuple(methods or ("remote_url", "local_file")),
            number_limits=int(limit or 3),
        )
    if isinstance(image, Mapping):
        return FileUploadConfig(
            enabled=bool(image.get("enabled")),
            allowed_types=("image",),
            transfer_methods=tuple(image.get("transfer_methods") or ("remote_url", "local_file")),
            number_limits=int(image.get("number_limits") or 3),
        )
    return FileUploadConfig()


def parse_model(raw: Any) -> ModelConfig:
    if not isinstance(raw, Mapping):
        return ModelConfig()
    params = raw.get("completion_params")
    vision = raw.get("vision")
    return ModelConfig(
        provider=str(raw.get("provider") or "builtin"),
        name=str(raw.get("name") or "builtin-echo"),
        mode=str(raw.get("mode") or "chat"),
        completion_params=dict(params) if isinstance(params, Mapping) else {},
        base_url=raw.get("base_url") or raw.get("endpoint_url") or None,
        api_key=raw.get("api_key") or None,
        vision=bool(vision) if isinstance(vision, bool) else None,
    )


def dataset_ids(model_config: Mapping[str, Any]) -> list[str]:
    """The enabled datasets of a chat app's `dataset_configs` (its knowledge), in order."""
    configs = model_config.get("dataset_configs")
    outer = configs.get("datasets") if isinstance(configs, Mapping) else None
    inner = outer.get("datasets") if isinstance(outer, Mapping) else None
    found: list[str] = []
    for item in inner if isinstance(inner, list) else []:
        dataset = item.get("dataset") if isinstance(item, Mapping) else None
        if isinstance(dataset, Mapping) and dataset.get("enabled", True) and dataset.get("id"):
            found.append(str(dataset["id"]))
    return found


def load_config(version: HasAppConfig | None) -> ChatAppConfig:
    """Read the generation settings of an app version (tolerant of missing sections)."""
    form = version.user_input_form if version is not None and version.user_input_form else None
    if form is None:
        form = _section(version, "user_input_form")
    history = _section(version, "history_turns")
    return ChatAppConfig(
        model=parse_model(_section(version, "model")),
        pre_prompt=str(_section(version, "pre_prompt") or ""),
        opening_statement=str(_section(version, "opening_statement") or ""),
        user_input_form=parse_input_form(form),
        file_upload=parse_file_upload(_section(version, "file_upload")),
        suggested_questions_after_answer=_enabled(_section(version, "suggested_questions_after_answer")),
        history_turns=int(history) if isinstance(history, int) and history >= 0 else DEFAULT_HISTORY_TURNS,
    )
