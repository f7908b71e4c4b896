"""The contract family leaves an app's annotation reply off when it found it off."""

from __future__ import annotations

import time

from conftest import Target

from conformance.checks.contract import annotation_reply_on, switch_annotation_reply_off
from conformance.client import Api

SETTINGS = {"score_threshold": 0.9, "embedding_provider_name": "openai", "embedding_model_name": "m"}


def test_switching_the_reply_back_off(reference: Target) -> None:
    api = Api(reference.base_url, reference.keys["chat"], "chat")
    try:
        assert annotation_reply_on(api) is False
        for _ in range(3):  # jobs the fuzzing may leave queued
            assert api.call("POST", "/apps/annotation-reply/enable", json_body=SETTINGS).status == 200
        deadline = time.monotonic() + 10
        while not annotation_reply_on(api) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert annotation_reply_on(api) is True
        switch_annotation_reply_off(api)
        assert annotation_reply_on(api) is False
    finally:
        api.close()
