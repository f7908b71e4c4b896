"""Capabilities discovered from an app's /parameters, and the config's overrides."""

from __future__ import annotations

from conformance.capabilities import discover
from conformance.config import Capabilities

OLD_STYLE = {
    "opening_statement": "Hi!",
    "suggested_questions_after_answer": {"enabled": True},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": True, "voice": "a"},
    "annotation_reply": {"enabled": False},
    "file_upload": {"image": {"enabled": True, "transfer_methods": ["remote_url", "local_file"]}},
}
NEW_STYLE = {
    "file_upload": {
        "enabled": True,
        "allowed_file_types": ["document", "audio"],
        "allowed_file_upload_methods": ["local_file"],
    },
}


def test_a_chat_app_offers_what_its_parameters_say() -> None:
    app = discover("chat", OLD_STYLE, {"tool_icons": {}}, Capabilities())
    assert app.has("file_upload") and app.file_types == ("image",)
    assert app.has("suggested_questions") and app.has("text_to_speech") and app.has("opening_statement")
    # annotation_reply switched off still means the server has the annotation operations
    assert app.has("annotations")
    assert not app.has("speech_to_text")
    assert app.why_not("speech_to_text") == "speech_to_text: /parameters speech_to_text.enabled is false"


def test_the_newer_file_upload_block_lists_types_and_methods() -> None:
    app = discover("workflow", NEW_STYLE, None, Capabilities())
    assert app.has("file_upload") and app.file_types == ("document", "audio")
    url_only = {
        "file_upload": {
            "enabled": True,
            "allowed_file_types": ["image"],
            "allowed_file_upload_methods": ["remote_url"],
        }
    }
    app = discover("workflow", url_only, None, Capabilities())
    assert not app.has("file_upload") and "only by remote_url" in app.why_not("file_upload")


def test_nothing_known_is_offered_without_parameters() -> None:
    app = discover("chat", None, None, Capabilities())
    assert not app.has("file_upload") and not app.has("speech_to_text") and not app.has("annotations")
    assert not app.has("suggested_questions")


def test_the_config_overrides_and_marks_a_missing_endpoint() -> None:
    app = discover(
        "chat",
        OLD_STYLE,
        None,
        Capabilities(annotations=False, speech_to_text=True, file_types=("document",)),
    )
    assert not app.has("annotations") and app.lacks_endpoint("annotations")
    assert app.has("speech_to_text") and not app.lacks_endpoint("speech_to_text")
    assert app.file_types == ("document",)
    assert not discover("chat", OLD_STYLE, None, Capabilities()).lacks_endpoint("speech_to_text")
