"""Sensitive word avoidance of the `keywords` type (the app DSL's `sensitive_word_avoidance`).

```yaml
sensitive_word_avoidance:
  enabled: true
  type: keywords
  configs:            # Dify exports `config`; both spellings are read
    keywords: "badword\nworse word"      # one keyword per line, matched case-insensitively
    inputs_config: {enabled: true, preset_response: "I can't talk about that."}
    outputs_config: {enabled: true, preset_response: "[answer removed]"}
```

A query (or a string input) containing a keyword is answered with the input preset without
calling the model; an answer containing one is replaced by the output preset (`message_replace`
in streams, the preset as `answer` in blocking bodies and in the stored message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_PRESET = "Your content violates our usage policy. Please revise and try again."
MAX_KEYWORDS = 100


@dataclass(frozen=True)
class KeywordModeration:
    keywords: tuple[str, ...] = ()
    inputs_enabled: bool = False
    inputs_preset: str = DEFAULT_PRESET
    outputs_enabled: bool = False
    outputs_preset: str = DEFAULT_PRESET

    @property
    def active(self) -> bool:
        return bool(self.keywords) and (self.inputs_enabled or self.outputs_enabled)

    def flagged(self, text: str) -> bool:
        lowered = text.casefold()
        return any(k in lowered for k in self.keywords)


def _side(raw: Any) -> tuple[bool, str]:
    if not isinstance(raw, Mapping):
        return False, DEFAULT_PRESET
    preset = raw.get("preset_response")
    return bool(raw.get("enabled")), str(preset) if isinstance(preset, str) and preset else DEFAULT_PRESET


def keyword_moderation(features: Mapping[str, Any] | None) -> KeywordModeration:
    raw = (features or {}).get("sensitive_word_avoidance")
    if not isinstance(raw, Mapping) or not raw.get("enabled") or raw.get("type") != "keywords":
        return KeywordModeration()
    config = raw.get("configs") if isinstance(raw.get("configs"), Mapping) else raw.get("config")
    if not isinstance(config, Mapping):
        return KeywordModeration()
    text = config.get("keywords")
    words = [w.strip().casefold() for w in str(text or "").replace(",", "\n").splitlines()]
    inputs_enabled, inputs_preset = _side(config.get("inputs_config"))
    outputs_enabled, outputs_preset = _side(config.get("outputs_config"))
    return KeywordModeration(
        keywords=tuple(w for w in words if w)[:MAX_KEYWORDS],
        inputs_enabled=inputs_enabled,
        inputs_preset=inputs_preset,
        outputs_enabled=outputs_enabled,
        outputs_preset=outputs_preset,
    )


def check_inputs(moderation: KeywordModeration, query: str, inputs: Mapping[str, Any]) -> str | None:
    """The preset answer when the query or an input value contains a keyword, else None."""
    if not moderation.inputs_enabled or not moderation.keywords:
        return None
    texts = [query, *(v for v in inputs.values() if isinstance(v, str))]
    return moderation.inputs_preset if any(moderation.flagged(t) for t in texts) else None


def check_output(moderation: KeywordModeration, answer: str) -> str | None:
    """The replacement answer when the answer contains a keyword, else None."""
    if not moderation.outputs_enabled or not moderation.keywords:
        return None
    return moderation.outputs_preset if moderation.flagged(answer) else None
