"""Uploads (`POST /files/upload`), the keyed preview (`GET /files/{id}/preview`), the keyless
downloads behind signed URLs (`GET /files/{id}/file-preview`, `GET /files/tools/{file_name}`;
signing lives in `signed_urls`) and the `files` of requests."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from impl import runtime
from impl.config import MB, Settings
from impl.db.models import Message, MessageFile, UploadFile, to_unix
from impl.errors import ApiError, invalid_param
from impl.providers import ImageInput
from impl.services.apps.chat_config import FileUploadConfig
from impl.services.apps.scope import AppScope, end_user_for
from impl.services.media import signed_urls

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "gif", "svg")
VIDEO_EXTENSIONS = ("mp4", "mov", "mpeg", "webm")
AUDIO_EXTENSIONS = ("mp3", "m4a", "wav", "amr", "mpga")
DOCUMENT_EXTENSIONS = (
    "txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "docx", "csv", "vtt", "properties",
)  # fmt: skip
INVALID_NAME_CHARS = re.compile(r'[/\\:*?"<>|]')
HTML_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml")
MEDIA_RANGE_TYPES = ("audio/", "video/")
MAX_NAME = 200
MAX_INLINE_IMAGE = 10 * MB


def file_category(extension: str) -> str:
    ext = extension.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in DOCUMENT_EXTENSIONS:
        return "document"
    return "custom"


def size_limit(settings: Settings, extension: str) -> int:
    category = file_category(extension)
    mb = {
        "image": settings.upload_image_file_size_limit,
        "video": settings.upload_video_file_size_limit,
        "audio": settings.upload_audio_file_size_limit,
    }.get(category, settings.upload_file_size_limit)
    return mb * MB


def extension_blacklist(settings: Settings) -> frozenset[str]:
    return settings.upload_extension_blacklist


def preview_path(file_id: str) -> str:
    return f"/v1/files/{file_id}/preview"


def upload_json(row: UploadFile, source_url: str | None = None) -> dict[str, Any]:
    """The 201 body of an upload; `source_url` defaults to the keyed preview path (D17)."""
    return {
        "id": row.id,
        "name": row.name,
        "size": row.size,
        "extension": row.extension or None,
        "mime_type": row.mime_type,
        "created_by": row.end_user_id,
        "created_at": to_unix(row.created_at),
        "preview_url": None,
        "source_url": source_url or preview_path(row.id),
        "original_url": None,
        "user_id": None,
        "tenant_id": row.tenant_id,
        "conversation_id": None,
        "file_key": None,
    }


async def store_upload(
    session: AsyncSession,
    settings: Settings,
    *,
    app_id: str,
    tenant_id: str,
    end_user_id: str,
    filename: str,
    mime_type: str,
    data: bytes,
) -> UploadFile:
    """Validate and store one uploaded file (Dify's checks, in Dify's order)."""
    if INVALID_NAME_CHARS.search(filename):
        raise invalid_param("Filename contains invalid characters")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if len(filename) > MAX_NAME:
        stem = filename[: MAX_NAME - len(extension) - 1] if extension else filename[:MAX_NAME]
        filename = f"{stem}.{extension}" if extension else stem
    if extension and extension in extension_blacklist(settings):
        raise invalid_param(f"File extension '.{extension}' is not allowed for security reasons")
    if len(data) > size_limit(settings, extension):
        raise ApiError("file_too_large", "", 413)
    file_id = str(uuid.uuid4())
    key = f"upload_files/{tenant_id}/{file_id}" + (f".{extension}" if extension else "")
    path = settings.data_dir / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    row = UploadFile(
        id=file_id,
        tenant_id=tenant_id,
        app_id=app_id,
        end_user_id=end_user_id,
        name=filename,
        size=len(data),
        extension=extension,
        mime_type=mime_type,
        storage_key=key,
        sha256=hashlib.sha3_256(data).hexdigest(),
    )
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Preview:
    path: Path
    headers: dict[str, str]
    media_type: str


async def preview(
    session: AsyncSession,
    settings: Settings,
    *,
    app_id: str,
    tenant_id: str,
    file_id: str,
    as_attachment: bool,
) -> Preview:
    """Serve an upload only when a message of this app references it (Dify §5.3)."""
    try:
        uuid.UUID(file_id)
    except ValueError:
        raise ApiError("file_not_found", "File not found", 404) from None
    row = await session.get(UploadFile, file_id)
    if row is None:
        raise ApiError("file_not_found", "File not found", 404)
    if row.tenant_id != tenant_id or row.app_id != app_id:
        raise ApiError("file_access_denied", "Access to the requested file is denied", 403)
    used = await session.scalar(
        select(MessageFile.id)
        .join(Message, Message.id == MessageFile.message_id)
        .where(MessageFile.upload_file_id == file_id, Message.app_id == app_id)
        .limit(1)
    )
    if used is None:
        raise ApiError("file_not_found", "File not found in message context", 404)
    path = settings.data_dir / row.storage_key
    if not path.is_file():
        raise ApiError("file_not_found", "File not found in storage", 404)
    mime = row.mime_type or "application/octet-stream"
    headers = {"Cache-Control": "public, max-age=3600", "Content-Length": str(row.size)}
    if mime.startswith(MEDIA_RANGE_TYPES):
        headers["Accept-Ranges"] = "bytes"
    if as_attachment or mime in HTML_TYPES or row.extension in ("html", "htm", "svg"):
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(row.name)}"
        mime = "application/octet-stream"
    return Preview(path=path, headers=headers, media_type=mime)


# --- files referenced by chat / completion requests -------------------------------------------


@dataclass(frozen=True)
class RequestFile:
    type: str
    transfer_method: str
    url: str | None
    upload: UploadFile | None

    @property
    def name(self) -> str:
        if self.upload is not None:
            return self.upload.name
        return unquote(PurePosixPath(urlparse(self.url or "").path).name) or (self.url or "")


def _fail(name: str) -> ApiError:
    return invalid_param(f"File validation failed for file: {name}")


async def resolve_request_files(
    session: AsyncSession, config: FileUploadConfig, raw: Any, *, app_id: str, tenant_id: str
) -> list[RequestFile]:
    """Check the request's `files` against the app's file-upload feature.

    When the feature is off the list is dropped silently, as Dify does."""
    if not raw or not config.enabled:
        return []
    if not isinstance(raw, list):
        raise invalid_param("files must be a list")
    if len(raw) > config.number_limits:
        raise invalid_param(f"Number of files exceeds the maximum limit {config.number_limits}")
    out: list[RequestFile] = []
    for item in raw:
        if not isinstance(item, dict):
            raise invalid_param("Each file must be an object")
        method = item.get("transfer_method")
        declared = item.get("type")
        if method == "local_file":
            file_id = item.get("upload_file_id")
            try:
                uuid.UUID(str(file_id))
            except ValueError:
                raise invalid_param("Invalid upload file id format") from None
            upload = await session.get(UploadFile, str(file_id))
            if upload is None or upload.tenant_id != tenant_id or upload.app_id != app_id:
                raise invalid_param("Invalid upload file")
            detected = file_category(upload.extension)
            kind = declared if isinstance(declared, str) and declared not in ("", "custom") else detected
            ref = RequestFile(type=kind, transfer_method=method, url=None, upload=upload)
            ext = upload.extension
        elif method == "remote_url":
            url = item.get("url") or item.get("remote_url")
            if (
                not isinstance(url, str)
                or urlparse(url).scheme not in ("http", "https")
                or not urlparse(url).netloc
            ):
                raise invalid_param("Invalid file url")
            ext = PurePosixPath(urlparse(url).path).suffix.lstrip(".").lower()
            detected = file_category(ext)
            kind = declared if isinstance(declared, str) and declared not in ("", "custom") else detected
            ref = RequestFile(type=kind, transfer_method=method, url=url, upload=None)
        else:
            raise invalid_param(f"Invalid transfer method: {method}")
        if method not in config.transfer_methods:
            raise _fail(ref.name)
        type_ok = ref.type in config.allowed_types
        custom_ok = "custom" in config.allowed_types and (
            not config.allowed_extensions
            or ext in config.allowed_extensions
            or f".{ext}" in config.allowed_extensions
        )
        if not (type_ok or custom_ok):
            raise _fail(ref.name)
        out.append(ref)
    return out


def image_inputs(settings: Settings, files: list[RequestFile]) -> tuple[ImageInput, ...]:
    """Images of a request as provider inputs (local uploads inlined as `data:` URLs)."""
    images: list[ImageInput] = []
    for f in files:
        if f.type != "image":
            continue
        if f.url:
            images.append(ImageInput(f.url))
        elif f.upload is not None and f.upload.size <= MAX_INLINE_IMAGE:
            path = settings.data_dir / f.upload.storage_key
            if path.is_file():
                mime = f.upload.mime_type or mimetypes.guess_type(f.upload.name)[0] or "image/png"
                encoded = base64.b64encode(path.read_bytes()).decode("ascii")
                images.append(ImageInput(f"data:{mime};base64,{encoded}"))
    return tuple(images)


def message_file_json(row: MessageFile, upload: UploadFile | None) -> dict[str, Any]:
    if upload is not None:
        filename, mime, size = upload.name, upload.mime_type, upload.size
        url: str | None = preview_path(upload.id)
    else:
        path = PurePosixPath(urlparse(row.url or "").path)
        filename = unquote(path.name) or (row.url or "")
        mime = mimetypes.guess_type(filename)[0]
        size = None
        url = row.url
    return {
        "id": row.id,
        "filename": filename,
        "type": row.type,
        "url": url,
        "mime_type": mime,
        "size": size,
        "transfer_method": row.transfer_method,
        "belongs_to": row.belongs_to,
        "upload_file_id": row.upload_file_id,
    }


# The two operations: request parts → stored file, id → servable file.


class UploadPart(Protocol):
    @property
    def filename(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


async def upload(ctx: AppScope, user: str, parts: Sequence[UploadPart]) -> dict[str, Any]:
    """`POST /files/upload`: Dify's checks in its order (no file, too many, no MIME type, empty
    name), then the file rules."""
    if not parts:
        raise ApiError("no_file_uploaded", "Please upload your file.", 400)
    if len(parts) > 1:
        raise ApiError("too_many_files", "Only one file is allowed.", 400)
    part = parts[0]
    if not part.content_type:
        raise ApiError("unsupported_file_type", "File type not allowed.", 415)
    if not part.filename:
        raise ApiError("filename_not_exists_error", "The specified filename does not exist.", 400)
    settings = runtime.current().settings
    extension = part.filename.rsplit(".", 1)[-1].lower() if "." in part.filename else ""
    limit = size_limit(settings, extension)
    data = await part.read(limit + 1)
    if len(data) > limit:
        raise ApiError("file_too_large", "", 413)
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.transaction() as session:
        row = await store_upload(
            session,
            settings,
            app_id=ctx.app_id,
            tenant_id=ctx.tenant_id,
            end_user_id=end_user.id,
            filename=part.filename,
            mime_type=part.content_type,
            data=data,
        )
        # A workflow app has no messages for the keyed preview to serve the file from: its
        # uploads get the signed keyless URL their run data gives them (DEVIATIONS D30).
        source = signed_urls.upload_file_path(settings, row.id) if ctx.mode == "workflow" else None
        return upload_json(row, source)


async def preview_for(ctx: AppScope, file_id: str, as_attachment: bool) -> Preview:
    """The servable file of `GET /files/{file_id}/preview`, for the key's app."""
    async with runtime.current().database.session() as session:
        return await preview(
            session,
            runtime.current().settings,
            app_id=ctx.app_id,
            tenant_id=ctx.tenant_id,
            file_id=file_id,
            as_attachment=as_attachment,
        )


# --- keyless downloads behind signed URLs ------------------------------------------------------

SIGNED_NOT_FOUND = "File not found or signature is invalid"
INVALID_SIGNATURE = "Invalid request."


async def _stored(settings: Settings, file_id: str) -> tuple[UploadFile, Path] | None:
    async with runtime.current().database.session() as session:
        row = await session.get(UploadFile, file_id)
    if row is None:
        return None
    path = settings.data_dir / row.storage_key
    return (row, path) if path.is_file() else None


def _keyless(row: UploadFile, path: Path, as_attachment: bool, *, attachment_type: bool) -> Preview:
    """The response of a keyless download: the stored type, or `application/octet-stream` with
    `Content-Disposition: attachment` for markup (never rendered from a keyless URL) and, when
    `attachment_type`, for `as_attachment` too."""
    mime = row.mime_type or "application/octet-stream"
    headers = {"Content-Length": str(row.size)}
    markup = mime in HTML_TYPES or row.extension in ("html", "htm", "svg")
    if as_attachment or markup:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(row.name)}"
    if markup or (as_attachment and attachment_type):
        mime = "application/octet-stream"
    if mime.startswith(MEDIA_RANGE_TYPES):
        headers["Accept-Ranges"] = "bytes"
    return Preview(path=path, headers=headers, media_type=mime)


async def file_preview(file_id: str, timestamp: str, nonce: str, sign: str, as_attachment: bool) -> Preview:
    """`GET /files/{file_id}/file-preview`: an uploaded file behind its signed URL. As in Dify,
    a wrong or stale signature and a missing file answer alike: 404 `not_found`."""
    settings = runtime.current().settings
    key = signed_urls.upload_file_id(file_id)
    found = None
    if signed_urls.signature_ok(settings, key, timestamp, nonce, sign):
        found = await _stored(settings, key)
    if found is None:
        raise ApiError("not_found", SIGNED_NOT_FOUND, 404)
    return _keyless(*found, as_attachment, attachment_type=True)


async def tool_file(file_name: str, timestamp: str, nonce: str, sign: str, as_attachment: bool) -> Preview:
    """`GET /files/tools/{file_name}`: a file a tool made behind its signed URL; 403
    `forbidden` for a wrong or stale signature, 404 `file_not_found` for a missing file (D29)."""
    settings = runtime.current().settings
    file_id = signed_urls.tool_file_id(file_name)
    if not signed_urls.signature_ok(settings, file_id, timestamp, nonce, sign):
        raise ApiError("forbidden", INVALID_SIGNATURE, 403)
    found = await _stored(settings, file_id)
    if found is None:
        raise ApiError("file_not_found", "File not found", 404)
    return _keyless(*found, as_attachment, attachment_type=False)
