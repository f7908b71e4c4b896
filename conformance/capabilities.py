"""What each app offers, discovered from the server (`/info`, `/parameters`, `/meta`) per key.

A keys-only run tests everything the apps say they offer. The config's `[capabilities]` table overrides a
discovered value (to narrow a run, or to declare that the server lacks an endpoint altogether). Every
capability carries the reason for its value, which becomes the reason of any skip it causes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from conformance.config import Capabilities

CHAT_MODES = ("chat", "agent-chat", "advanced-chat")
GENERATION_OPS = ("sendChatMessage", "createCompletionMessage", "executeWorkflow")

# Operations that exist only when the server offers a capability. Declaring the capability false in the
# config skips every check of these operations; a feature that an app merely has switched off does not
# (the server must still answer those operations with documented errors).
OPERATION_CAPABILITIES: dict[str, str] = {
    "uploadChatFile": "file_upload",
    "previewChatFile": "file_upload",
    "audioToText": "speech_to_text",
    "textToAudioChat": "text_to_speech",
    "getSuggestedQuestions": "suggested_questions",
    "createAnnotation": "annotations",
    "getAnnotationList": "annotations",
    "updateAnnotation": "annotations",
    "deleteAnnotation": "annotations",
    "initialAnnotationReplySettings": "annotations",
    "getInitialAnnotationReplySettingsStatus": "annotations",
    "getChatflowHumanInputForm": "human_input",
    "submitChatflowHumanInputForm": "human_input",
    "getConversationVariables": "conversation_variables",
    "updateChatConversationVariable": "conversation_variables",
    "getEndUserChat": "end_users",
}

CAPABILITIES = (
    "file_upload",
    "speech_to_text",
    "text_to_speech",
    "suggested_questions",
    "annotations",
    "opening_statement",
    "human_input",
    "conversation_variables",
    "end_users",
)
FILE_TYPES = ("image", "document", "audio", "video", "custom")


@dataclasses.dataclass(frozen=True)
class Offer:
    available: bool
    reason: str
    declared: bool = False  # set by the config rather than discovered


@dataclasses.dataclass
class AppFeatures:
    """The capabilities of the app behind one key."""

    mode: str
    offers: dict[str, Offer] = dataclasses.field(default_factory=dict)
    file_types: tuple[str, ...] = ()
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def has(self, name: str) -> bool:
        offer = self.offers.get(name)
        return bool(offer and offer.available)

    def why_not(self, name: str) -> str:
        offer = self.offers.get(name)
        return f"{name}: {offer.reason}" if offer else f"{name}: unknown capability"

    def lacks_endpoint(self, name: str) -> bool:
        """The config says the server has no such operation at all."""
        offer = self.offers.get(name)
        return bool(offer and offer.declared and not offer.available)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            n: {"available": o.available, "reason": o.reason} for n, o in self.offers.items()
        }
        out["file_types"] = list(self.file_types)
        return out


def _enabled(params: dict[str, Any], key: str) -> bool | None:
    value = params.get(key)
    if isinstance(value, dict) and isinstance(value.get("enabled"), bool):
        return bool(value["enabled"])
    return None


def _file_upload(params: dict[str, Any]) -> tuple[Offer, tuple[str, ...]]:
    block = params.get("file_upload")
    if not isinstance(block, dict):
        return Offer(False, "/parameters has no file_upload settings"), ()
    types: list[str] = []
    methods: set[str] = set()
    image = block.get("image")
    if isinstance(image, dict) and image.get("enabled") is True:
        types.append("image")
        methods |= {str(m) for m in image.get("transfer_methods") or []}
    if block.get("enabled") is True:
        types += [str(t) for t in block.get("allowed_file_types") or [] if t in FILE_TYPES and t not in types]
        methods |= {str(m) for m in block.get("allowed_file_upload_methods") or []}
    if not types:
        return Offer(False, "the app's /parameters file_upload enables no file type"), ()
    if methods and "local_file" not in methods:
        return Offer(
            False, f"the app accepts files only by {', '.join(sorted(methods))}, not local_file"
        ), tuple(types)
    return Offer(True, f"/parameters file_upload allows {', '.join(types)}"), tuple(types)


def discover(mode: str, parameters: Any, meta: Any, declared: Capabilities) -> AppFeatures:
    """Capabilities of one app from its /parameters and /meta answers, then the config's overrides."""
    params = parameters if isinstance(parameters, dict) else {}
    features = AppFeatures(mode, parameters=params, meta=meta if isinstance(meta, dict) else {})
    offers = features.offers
    offers["file_upload"], features.file_types = _file_upload(params)
    for name, key in (
        ("speech_to_text", "speech_to_text"),
        ("text_to_speech", "text_to_speech"),
        ("suggested_questions", "suggested_questions_after_answer"),
    ):
        flag = _enabled(params, key)
        if flag is None:
            offers[name] = Offer(False, f"/parameters has no {key}.enabled")
        else:
            offers[name] = Offer(flag, f"/parameters {key}.enabled is {str(flag).lower()}")
    if mode not in CHAT_MODES:
        offers["suggested_questions"] = Offer(False, f"a {mode} app has no conversation")
    if "annotation_reply" in params and mode in CHAT_MODES:
        offers["annotations"] = Offer(True, "/parameters has annotation_reply")
    elif mode in CHAT_MODES:
        offers["annotations"] = Offer(False, "/parameters has no annotation_reply")
    else:
        offers["annotations"] = Offer(False, f"annotations are for chat apps, this is {mode}")
    opening = params.get("opening_statement")
    if mode in CHAT_MODES and isinstance(opening, str) and opening:
        offers["opening_statement"] = Offer(True, "/parameters has an opening_statement")
    else:
        offers["opening_statement"] = Offer(False, "/parameters has no opening_statement for a chat app")
    # Operations of every app of the mode; nothing in /parameters switches them.
    offers["conversation_variables"] = Offer(mode in CHAT_MODES, f"served to {mode} apps by the spec")
    offers["end_users"] = Offer(True, "served to every app by the spec")
    offers["human_input"] = Offer(
        mode in ("advanced-chat", "workflow"),
        "served to chatflow and workflow apps by the spec (a form needs a human-input node)",
    )
    for name in CAPABILITIES:
        value = getattr(declared, name, None)
        if isinstance(value, bool):
            offers[name] = Offer(value, f"declared {str(value).lower()} in the config", declared=True)
    if declared.file_types is not None:
        features.file_types = tuple(declared.file_types)
    return features
