"""Signing and checking tool-file URLs: the secret (set, or generated once and kept in the data
dir), the signature Dify computes, the age limit from `FILES_ACCESS_TIMEOUT`, and file names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from impl.config import Settings
from impl.errors import ApiError
from impl.services.media import tool_files

FILE_ID = "0b7c38b1-6a57-4e8c-9f0e-1d44c1e0a7f2"


def parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    return split.path, query["timestamp"], query["nonce"], query["sign"]


def test_the_signature_is_difys_message_under_the_secret() -> None:
    settings = Settings(secret_key="s3cret")
    path, timestamp, nonce, sign = parts(tool_files.signed_path(settings, FILE_ID, "png"))
    assert path == f"/v1/files/tools/{FILE_ID}.png"
    digest = hmac.new(b"s3cret", f"file-preview|{FILE_ID}|{timestamp}|{nonce}".encode(), hashlib.sha256)
    assert sign == base64.urlsafe_b64encode(digest.digest()).decode()
    assert tool_files.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert not tool_files.signature_ok(Settings(secret_key="other"), FILE_ID, timestamp, nonce, sign)
    assert not tool_files.signature_ok(settings, FILE_ID, "not-a-number", nonce, sign)
    # Without an extension the name still has one, as Dify's route needs.
    assert parts(tool_files.signed_path(settings, FILE_ID, ""))[0].endswith(".bin")


def test_files_access_timeout_bounds_the_age() -> None:
    settings = Settings.from_env({"SECRET_KEY": "k", "FILES_ACCESS_TIMEOUT": "60"})
    assert settings.files_access_timeout == 60 and Settings.from_env({}).files_access_timeout == 300
    _path, timestamp, nonce, sign = parts(
        tool_files.signed_path(settings, FILE_ID, "txt", now=time.time() - 50)
    )
    assert tool_files.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    _path, timestamp, nonce, sign = parts(
        tool_files.signed_path(settings, FILE_ID, "txt", now=time.time() - 70)
    )
    assert not tool_files.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert "zz-private" not in repr(Settings(secret_key="zz-private"))


def test_a_generated_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = tool_files.secret_key(settings)
    kept = tmp_path / tool_files.SECRET_FILE
    assert kept.read_bytes() == first and len(first) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    tool_files._SECRETS.clear()  # as a restarted or second worker sees it
    assert tool_files.secret_key(settings) == first
    assert tool_files.secret_key(Settings(data_dir=tmp_path / "other")) != first
    assert tool_files.secret_key(Settings(data_dir=tmp_path, secret_key="given")) == b"given"


MALFORMED = ["x.png", FILE_ID, f"{FILE_ID}.", FILE_ID.replace("-", "") + ".png", "../etc.png"]


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_file_names_are_unknown_urls(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        tool_files.file_id_of(name)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert tool_files.file_id_of(f"{FILE_ID}.tar.gz") == FILE_ID
    assert tool_files.file_id_of(f"{FILE_ID.upper()}.png") == FILE_ID


def test_stored_urls_are_signed_anew() -> None:
    settings = Settings(secret_key="s")
    old = tool_files.signed_path(settings, FILE_ID, "md", now=time.time() - 1000)
    other = {"transfer_method": "local_file", "url": "/v1/files/x/preview"}
    stored = {"files": [{"transfer_method": "tool_file", "url": old, "size": 3}], "other": other, "n": 1}
    fresh = tool_files.fresh_urls(settings, stored)
    (made,) = fresh["files"]
    assert made["size"] == 3 and made["url"] != old
    path, timestamp, nonce, sign = parts(made["url"])
    assert path == f"/v1/files/tools/{FILE_ID}.md"
    assert tool_files.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert not tool_files.signature_ok(settings, FILE_ID, *parts(old)[1:])
    assert fresh["other"] == other and fresh["n"] == 1
