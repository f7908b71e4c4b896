"""The read-only app endpoints: /info, /parameters, /meta, /site."""

from __future__ import annotations

from typing import Any

from impl.config import Settings
from impl.errors import app_unavailable
from impl.services.apps.dsl import FEATURE_DEFAULTS, WORKFLOW_MODES
from impl.services.apps.store import AppContext, copy_json


def info(app: AppContext) -> dict[str, Any]:
    return {
        "name": app.name,
        "description": app.description,
        "tags": list(app.tags),
        "mode": app.mode,
        "author_name": app.author_name,
    }


def system_parameters(settings: Settings) -> dict[str, int]:
    return {
        "file_size_limit": settings.upload_file_size_limit,
        "image_file_size_limit": settings.upload_image_file_size_limit,
        "audio_file_size_limit": settings.upload_audio_file_size_limit,
        "video_file_size_limit": settings.upload_video_file_size_limit,
        "workflow_file_upload_limit": settings.workflow_file_upload_limit,
    }


def parameters(app: AppContext, settings: Settings) -> dict[str, Any]:
    """Features of the published version with Dify's defaults, plus the system limits."""
    if app.version_id is None or (app.mode in WORKFLOW_MODES and not app.workflow_graph):
        raise app_unavailable()
    # `app` may be the cached context every request shares (`store.shared_context`): nothing here
    # changes it, and the reply only refers to its parts; the defaults are copied, as the reply's
    # own parts.
    features = app.features
    reply: dict[str, Any] = {}
    for key, default in FEATURE_DEFAULTS.items():
        value = features.get(key)
        reply[key] = copy_json(default) if value is None else value
    reply["user_input_form"] = app.user_input_form
    reply["system_parameters"] = system_parameters(settings)
    return reply


def meta(app: AppContext) -> dict[str, Any]:
    """Tool icons of an agent app's tools (no tool runtime here: emoji icons by provider)."""
    icons: dict[str, Any] = {}
    agent_mode = app.model_config.get("agent_mode")
    tools = agent_mode.get("tools") if isinstance(agent_mode, dict) else None
    for tool in tools or []:
        if isinstance(tool, dict) and tool.get("enabled", True):
            name = tool.get("tool_name") or tool.get("provider_id")
            if name:
                icons[str(name)] = {"background": "#252525", "content": "\U0001f527"}
    return {"tool_icons": icons}


def site(app: AppContext) -> dict[str, Any]:
    """WebApp settings, from the DSL's app fields (Dify's DSL does not export the site)."""
    extra = app.site
    return {
        "title": extra.get("title") or app.name,
        "chat_color_theme": extra.get("chat_color_theme") or "",
        "chat_color_theme_inverted": bool(extra.get("chat_color_theme_inverted", False)),
        "icon_type": app.icon_type or "emoji",
        "icon": app.icon or "",
        "icon_background": app.icon_background or "",
        "icon_url": extra.get("icon_url"),
        "description": extra.get("description") or app.description,
        "copyright": extra.get("copyright") or "",
        "privacy_policy": extra.get("privacy_policy") or "",
        "custom_disclaimer": extra.get("custom_disclaimer") or "",
        "default_language": extra.get("default_language") or "en-US",
        "show_workflow_steps": bool(extra.get("show_workflow_steps", True)),
        "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
        "input_placeholder": extra.get("input_placeholder"),
    }
