"""Signing and checking keyless file URLs (tool files and uploaded files): the secret (set, or
generated once and kept in the data dir), the signature Dify computes, the age limit from
`FILES_ACCESS_TIMEOUT`, file names and ids, and signing stored URLs anew."""

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
from impl.services.media import signed_urls

FILE_ID = "0b7c38b1-6a57-4e8c-9f0e-1d44c1e0a7f2"


def parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    return split.path, query["timestamp"], query["nonce"], query["sign"]


def test_the_signature_is_difys_message_under_the_secret() -> None:
    settings = Settings(secret_key="s3cret")
    path, timestamp, nonce, sign = parts(signed_urls.tool_file_path(settings, FILE_ID, "png"))
    assert path == f"/v1/files/tools/{FILE_ID}.png"
    digest = hmac.new(b"s3cret", f"file-preview|{FILE_ID}|{timestamp}|{nonce}".encode(), hashlib.sha256)
    assert sign == base64.urlsafe_b64encode(digest.digest()).decode()
    assert signed_urls.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert not signed_urls.signature_ok(Settings(secret_key="other"), FILE_ID, timestamp, nonce, sign)
    assert not signed_urls.signature_ok(settings, FILE_ID, "not-a-number", nonce, sign)
    # Without an extension the name still has one, as Dify's route needs.
    assert parts(signed_urls.tool_file_path(settings, FILE_ID, ""))[0].endswith(".bin")


def test_files_access_timeout_bounds_the_age() -> None:
    settings = Settings.from_env({"SECRET_KEY": "k", "FILES_ACCESS_TIMEOUT": "60"})
    assert settings.files_access_timeout == 60 and Settings.from_env({}).files_access_timeout == 300
    _path, timestamp, nonce, sign = parts(
        signed_urls.tool_file_path(settings, FILE_ID, "txt", now=time.time() - 50)
    )
    assert signed_urls.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    _path, timestamp, nonce, sign = parts(
        signed_urls.tool_file_path(settings, FILE_ID, "txt", now=time.time() - 70)
    )
    assert not signed_urls.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert "zz-private" not in repr(Settings(secret_key="zz-private"))


def test_a_generated_secret_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = signed_urls.secret_key(settings)
    kept = tmp_path / signed_urls.SECRET_FILE
    assert kept.read_bytes() == first and len(first) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    signed_urls._SECRETS.clear()  # as a restarted or second worker sees it
    assert signed_urls.secret_key(settings) == first
    assert signed_urls.secret_key(Settings(data_dir=tmp_path / "other")) != first
    assert signed_urls.secret_key(Settings(data_dir=tmp_path, secret_key="given")) == b"given"


MALFORMED = ["x.png", FILE_ID, f"{FILE_ID}.", FILE_ID.replace("-", "") + ".png", "../etc.png"]


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_file_names_are_unknown_urls(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        signed_urls.tool_file_id(name)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert signed_urls.tool_file_id(f"{FILE_ID}.tar.gz") == FILE_ID
    assert signed_urls.tool_file_id(f"{FILE_ID.upper()}.png") == FILE_ID


def test_stored_urls_are_signed_anew() -> None:
    settings = Settings(secret_key="s")
    old = signed_urls.tool_file_path(settings, FILE_ID, "md", now=time.time() - 1000)
    other = {"transfer_method": "local_file", "url": "/v1/files/x/preview"}
    stored = {"files": [{"transfer_method": "tool_file", "url": old, "size": 3}], "other": other, "n": 1}
    fresh = signed_urls.fresh_urls(settings, stored)
    (made,) = fresh["files"]
    assert made["size"] == 3 and made["url"] != old
    path, timestamp, nonce, sign = parts(made["url"])
    assert path == f"/v1/files/tools/{FILE_ID}.md"
    assert signed_urls.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert not signed_urls.signature_ok(settings, FILE_ID, *parts(old)[1:])
    assert fresh["other"] == other and fresh["n"] == 1


def test_an_uploaded_files_url_is_difys_file_preview_shape() -> None:
    settings = Settings(secret_key="s3cret")
    url = signed_urls.upload_file_path(settings, FILE_ID)
    path, timestamp, nonce, sign = parts(url)
    assert path == f"/v1/files/{FILE_ID}/file-preview"
    assert list(parse_qs(urlsplit(url).query)) == ["timestamp", "nonce", "sign"]
    digest = hmac.new(b"s3cret", f"file-preview|{FILE_ID}|{timestamp}|{nonce}".encode(), hashlib.sha256)
    assert sign == base64.urlsafe_b64encode(digest.digest()).decode()
    # One signature for both kinds of URL, as in Dify: the id, not the path, is signed.
    assert signed_urls.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert not signed_urls.signature_ok(settings, FILE_ID.replace("0b7c", "1b7c"), timestamp, nonce, sign)
    assert signed_urls.upload_file_id(FILE_ID.upper()) == FILE_ID
    for malformed in ("x", FILE_ID.replace("-", ""), f"{FILE_ID}.png", "../secret_key"):
        with pytest.raises(ApiError) as caught:
            signed_urls.upload_file_id(malformed)
        assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_stored_upload_urls_are_signed_anew_in_nested_data() -> None:
    settings = Settings(secret_key="s")
    old = signed_urls.upload_file_path(settings, FILE_ID, now=time.time() - 1000)
    file = {"transfer_method": "local_file", "upload_file_id": FILE_ID, "url": old}
    fresh = signed_urls.fresh_urls(settings, {"doc": file, "list": [[file]], "text": old})
    path, timestamp, nonce, sign = parts(fresh["doc"]["url"])
    assert path == f"/v1/files/{FILE_ID}/file-preview" and fresh["doc"]["url"] != old
    assert signed_urls.signature_ok(settings, FILE_ID, timestamp, nonce, sign)
    assert parts(fresh["list"][0][0]["url"])[0] == path
    assert fresh["text"] == old  # only a file mapping's `url` is a file URL
    assert file["url"] == old  # the stored value itself is left alone
    # Parts without a file URL are shared, not copied (events are signed as they are made).
    plain = {"outputs": {"text": "hi", "items": [1, {"a": None}]}, "status": "succeeded"}
    assert signed_urls.fresh_urls(settings, plain) is plain
    mixed = {"doc": file, "other": plain}
    again = signed_urls.fresh_urls(settings, mixed)
    assert again is not mixed and again["other"] is plain and again["doc"] is not file


def test_only_urls_this_server_signed_are_signed_anew() -> None:
    """A node can output any mapping: a URL it made up, or one signed under another secret, must
    not come back from the run record as a working URL for some file id."""
    settings = Settings(secret_key="s")
    made_up = [
        f"/v1/files/{FILE_ID}/file-preview",
        f"/v1/files/{FILE_ID}/file-preview?timestamp=1&nonce=n&sign=x",
        signed_urls.upload_file_path(Settings(secret_key="other"), FILE_ID),
        signed_urls.tool_file_path(Settings(secret_key="other"), FILE_ID, "png"),
        f"/v1/files/{FILE_ID}/preview",
        "https://example.com" + signed_urls.upload_file_path(settings, FILE_ID),
        signed_urls.upload_file_path(settings, FILE_ID).replace(FILE_ID, FILE_ID.replace("0b7c", "1b7c")),
    ]
    for url in made_up:
        for method in ("local_file", "tool_file", "remote_url"):
            value = {"transfer_method": method, "url": url}
            assert signed_urls.fresh_urls(settings, value) is value, url
    # Without a `transfer_method` a mapping is no file, even with our own URL in it.
    ours = {"url": signed_urls.upload_file_path(settings, FILE_ID, now=time.time() - 1000)}
    assert signed_urls.fresh_urls(settings, ours) == ours
