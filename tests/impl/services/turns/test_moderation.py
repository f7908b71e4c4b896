"""Keyword moderation settings from the DSL and the two checks."""

from __future__ import annotations

from impl.services.turns.moderation import DEFAULT_PRESET, check_inputs, check_output, keyword_moderation


def _features(**config: object) -> dict[str, object]:
    return {"sensitive_word_avoidance": {"enabled": True, "type": "keywords", **config}}


def test_both_spellings_and_presets() -> None:
    for key in ("config", "configs"):
        mod = keyword_moderation(
            _features(
                **{
                    key: {
                        "keywords": "Secret\n\n  other word ",
                        "inputs_config": {"enabled": True, "preset_response": "no"},
                        "outputs_config": {"enabled": True},
                    }
                }
            )
        )
        assert mod.keywords == ("secret", "other word") and mod.active
        assert check_inputs(mod, "a SECRET plan", {}) == "no"
        assert check_inputs(mod, "fine", {"topic": "the other word", "n": 3}) == "no"
        assert check_inputs(mod, "fine", {}) is None
        assert check_output(mod, "it is secret") == DEFAULT_PRESET
        assert check_output(mod, "all good") is None


def test_switched_off_or_other_types() -> None:
    assert not keyword_moderation({}).active
    assert not keyword_moderation({"sensitive_word_avoidance": {"enabled": False, "type": "keywords"}}).active
    assert not keyword_moderation(
        {"sensitive_word_avoidance": {"enabled": True, "type": "api", "config": {}}}
    ).active
    assert not keyword_moderation(_features(configs=[])).active
    only_inputs = keyword_moderation(_features(config={"keywords": "x", "inputs_config": {"enabled": True}}))
    assert check_output(only_inputs, "x") is None and check_inputs(only_inputs, "x", {}) == DEFAULT_PRESET
