"""Signed keyless file URLs: making them, checking them, signing stored ones anew.

Two kinds of file in workflow and chatflow run data get a URL that needs no API key:

- a file a tool made: `/v1/files/tools/{id}{.ext}?timestamp=…&nonce=…&sign=…`, served by
  `GET /files/tools/{file_name}` (`getToolFile`, DEVIATIONS D29);
- an uploaded file sent as an input (`transfer_method: local_file`):
  `/v1/files/{id}/file-preview?timestamp=…&nonce=…&sign=…`, served by
  `GET /files/{file_id}/file-preview` (`getFilePreview`, DEVIATIONS D30).

Both carry the same signature, the one Dify computes for both: `sign` is the URL-safe base64
HMAC-SHA256 of `file-preview|{id}|{timestamp}|{nonce}` under the server secret. A URL is good for
`files_access_timeout` seconds (Dify's `FILES_ACCESS_TIMEOUT`, 300 by default) after it was made.
Tool files are stored as uploads, so either URL of one id serves the same bytes.

The secret is `SECRET_KEY` when set; otherwise one is generated on first use and kept in
`<data dir>/secret_key`, so a restart and every worker sharing the data dir agree on it.

This module only signs and checks; `files.file_preview` and `files.tool_file` serve the files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from impl.config import Settings
from impl.errors import ApiError

SECRET_FILE = "secret_key"
TOOL_PREFIX = "/v1/files/tools/"
PREVIEW_SUFFIX = "/file-preview"
_SECRETS: dict[Path, bytes] = {}
# A file id as Dify's routes match it (hyphenated UUID, any case).
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PREVIEW_PATH = re.compile(rf"/v1/files/({UUID_TEXT.pattern})/file-preview")
_UNKNOWN_URL = "The requested URL was not found on the server."


def secret_key(settings: Settings) -> bytes:
    """The signing secret: `SECRET_KEY`, else the one persisted in the data dir (made once)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    where = settings.data_dir.resolve() / SECRET_FILE
    known = _SECRETS.get(where)
    if known is not None:
        return known
    where.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:  # this process made the file: write the secret in one go
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    value = b""
    for _ in range(50):  # another worker may be between creating and writing the file
        value = where.read_bytes().strip()
        if value:
            break
        time.sleep(0.01)
    if not value:
        raise RuntimeError(f"{where} is empty: delete it or set SECRET_KEY")
    _SECRETS[where] = value
    return value


def _signature(key: bytes, file_id: str, timestamp: str, nonce: str) -> str:
    digest = hmac.new(key, f"file-preview|{file_id}|{timestamp}|{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _query(settings: Settings, file_id: str, now: float | None) -> str:
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    sign = _signature(secret_key(settings), file_id, timestamp, nonce)
    return f"timestamp={timestamp}&nonce={nonce}&sign={sign}"


def tool_file_path(settings: Settings, file_id: str, extension: str, now: float | None = None) -> str:
    """The URL (path and query) of a file a tool made; `extension` is without the dot."""
    suffix = f".{extension}" if extension else ".bin"
    return f"{TOOL_PREFIX}{file_id}{suffix}?{_query(settings, file_id, now)}"


def upload_file_path(settings: Settings, file_id: str, now: float | None = None) -> str:
    """The URL (path and query) of an uploaded file, as run data and workflow uploads give it."""
    return f"/v1/files/{file_id}{PREVIEW_SUFFIX}?{_query(settings, file_id, now)}"


def signature_ok(
    settings: Settings, file_id: str, timestamp: str, nonce: str, sign: str, *, check_age: bool = True
) -> bool:
    """Whether `sign` is this server's signature of the id, timestamp and nonce and (unless
    `check_age` is off) the timestamp is at most `files_access_timeout` seconds old."""
    expected = _signature(secret_key(settings), file_id, timestamp, nonce)
    if not hmac.compare_digest(sign.encode(), expected.encode()):
        return False
    try:
        made = int(timestamp)
    except ValueError:
        return False
    return not check_age or int(time.time()) - made <= settings.files_access_timeout


def _resigned(settings: Settings, url: str) -> str | None:
    """`url` signed anew when it is a keyless file URL this server signed (at any age); None
    for anything else, so a URL that was never ours (a node's output, say) is never signed."""
    split = urlsplit(url)
    if split.scheme or split.netloc:
        return None
    query = {key: values[0] for key, values in parse_qs(split.query).items()}
    timestamp, nonce, sign = query.get("timestamp"), query.get("nonce"), query.get("sign")
    if timestamp is None or nonce is None or sign is None:
        return None
    extension: str | None = None  # a tool file's; None for an upload's file-preview URL
    if split.path.startswith(TOOL_PREFIX):
        file_id, _, extension = split.path[len(TOOL_PREFIX) :].partition(".")
    elif preview := _PREVIEW_PATH.fullmatch(split.path):
        file_id = preview.group(1)
    else:
        return None
    if not UUID_TEXT.fullmatch(file_id):
        return None
    if not signature_ok(settings, file_id, timestamp, nonce, sign, check_age=False):
        return None
    if extension is None:
        return upload_file_path(settings, file_id)
    return tool_file_path(settings, file_id, extension)


def fresh_urls(settings: Settings, value: Any) -> Any:
    """`value` with every keyless file URL in it signed anew: the `url` of each file mapping.
    Stored run data and a run's pool outlive a URL; Dify signs a file's URL each time it
    serializes the file. `value` is never changed: parts holding such a URL are copied, the
    rest is shared (an event without files comes back as the same object)."""
    if isinstance(value, list):
        items = [fresh_urls(settings, item) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if not isinstance(value, dict):
        return value
    out = {key: fresh_urls(settings, item) for key, item in value.items()}
    url = out.get("url")
    if "transfer_method" in out and isinstance(url, str):
        again = _resigned(settings, url)
        if again is not None:
            out["url"] = again
    changed = any(out[key] is not item for key, item in value.items())
    return out if changed else value


def tool_file_id(file_name: str) -> str:
    """The id in `{id}.{extension}`; a name of another shape is an unknown URL (404)."""
    stem, dot, extension = file_name.partition(".")
    if not UUID_TEXT.fullmatch(stem) or not dot or not extension:
        raise ApiError("not_found", _UNKNOWN_URL, 404)
    return stem.lower()


def upload_file_id(file_id: str) -> str:
    """The path's file id, lower-cased; another shape is an unknown URL (404), as in Dify."""
    if not UUID_TEXT.fullmatch(file_id):
        raise ApiError("not_found", _UNKNOWN_URL, 404)
    return file_id.lower()
