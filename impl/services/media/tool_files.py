"""Files made by tools in workflow runs: their signed URLs and `GET /files/tools/{file_name}`.

A tool's file is stored as an upload of the app (`store_upload`). Its URL carries no API key:
it is `/v1/files/tools/{id}{.ext}?timestamp=…&nonce=…&sign=…`, where `sign` is the URL-safe
base64 HMAC-SHA256 of `file-preview|{id}|{timestamp}|{nonce}` under the server secret, the
same message Dify signs. The URL is good for `files_access_timeout` seconds (Dify's
`FILES_ACCESS_TIMEOUT`, 300 by default) after it was made.

The secret is `SECRET_KEY` when set; otherwise one is generated on first use and kept in
`<data dir>/secret_key`, so a restart and every worker sharing the data dir agree on it.
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
from urllib.parse import quote

from impl import runtime
from impl.config import Settings
from impl.db.models import UploadFile
from impl.errors import ApiError
from impl.services.media.files import HTML_TYPES, Preview

SECRET_FILE = "secret_key"
URL_PREFIX = "/v1/files/tools/"
INVALID_SIGNATURE = "Invalid request."
_SECRETS: dict[Path, bytes] = {}
# The id part of a tool-file name, as Dify's route matches it (hyphenated, any case).
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


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


def signed_path(settings: Settings, file_id: str, extension: str, now: float | None = None) -> str:
    """The download URL (path and query) of a tool file; `extension` is without the dot."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    sign = _signature(secret_key(settings), file_id, timestamp, nonce)
    suffix = f".{extension}" if extension else ".bin"
    return f"{URL_PREFIX}{file_id}{suffix}?timestamp={timestamp}&nonce={nonce}&sign={sign}"


def signature_ok(settings: Settings, file_id: str, timestamp: str, nonce: str, sign: str) -> bool:
    expected = _signature(secret_key(settings), file_id, timestamp, nonce)
    if not hmac.compare_digest(sign.encode(), expected.encode()):
        return False
    try:
        made = int(timestamp)
    except ValueError:
        return False
    return int(time.time()) - made <= settings.files_access_timeout


def fresh_urls(settings: Settings, value: Any) -> Any:
    """`value` with every tool-file URL in it signed anew (stored run outputs outlive a URL;
    Dify signs a file's URL each time it serializes the file)."""
    if isinstance(value, list):
        return [fresh_urls(settings, item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: fresh_urls(settings, item) for key, item in value.items()}
    url = out.get("url")
    if out.get("transfer_method") == "tool_file" and isinstance(url, str) and url.startswith(URL_PREFIX):
        stem, _, extension = url[len(URL_PREFIX) :].partition("?")[0].partition(".")
        if UUID_TEXT.fullmatch(stem):
            out["url"] = signed_path(settings, stem.lower(), extension)
    return out


def file_id_of(file_name: str) -> str:
    """The id in `{id}.{extension}`; a name of another shape is an unknown URL (404)."""
    stem, dot, extension = file_name.partition(".")
    if not UUID_TEXT.fullmatch(stem) or not dot or not extension:
        raise ApiError("not_found", "The requested URL was not found on the server.", 404)
    return stem.lower()


async def download(file_name: str, timestamp: str, nonce: str, sign: str, as_attachment: bool) -> Preview:
    """The file a signed tool-file URL names; 403 `forbidden` for a bad or stale signature."""
    rt = runtime.current()
    settings = rt.settings
    file_id = file_id_of(file_name)
    if not signature_ok(settings, file_id, timestamp, nonce, sign):
        raise ApiError("forbidden", INVALID_SIGNATURE, 403)
    async with rt.database.session() as session:
        row = await session.get(UploadFile, file_id)
    if row is None:
        raise ApiError("file_not_found", "File not found", 404)
    path = settings.data_dir / row.storage_key
    if not path.is_file():
        raise ApiError("file_not_found", "File not found in storage", 404)
    mime = row.mime_type or "application/octet-stream"
    headers = {"Content-Length": str(row.size)}
    markup = mime in HTML_TYPES or row.extension in ("html", "htm", "svg")
    if as_attachment or markup:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(row.name)}"
    if markup:  # never rendered from this keyless URL: sent as a plain download
        mime = "application/octet-stream"
    return Preview(path=path, headers=headers, media_type=mime)
