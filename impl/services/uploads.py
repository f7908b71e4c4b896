"""The upload and preview operations (request parts → stored file; id → servable file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from impl import runtime
from impl.errors import ApiError
from impl.services import files
from impl.services.scope import AppScope, end_user_for


class UploadPart(Protocol):
    @property
    def filename(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


async def upload(ctx: AppScope, user: str, parts: Sequence[UploadPart]) -> dict[str, Any]:
    """Dify's checks in Dify's order: no file, too many, no MIME type, empty name, then the file rules."""
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
    limit = files.size_limit(settings, extension)
    data = await part.read(limit + 1)
    if len(data) > limit:
        raise ApiError("file_too_large", "", 413)
    end_user = await end_user_for(ctx, user)
    async with runtime.current().database.transaction() as session:
        row = await files.store_upload(
            session,
            settings,
            app_id=ctx.app_id,
            tenant_id=ctx.tenant_id,
            end_user_id=end_user.id,
            filename=part.filename,
            mime_type=part.content_type,
            data=data,
        )
        return files.upload_json(row)


async def preview(ctx: AppScope, file_id: str, as_attachment: bool) -> files.Preview:
    async with runtime.current().database.session() as session:
        return await files.preview(
            session,
            runtime.current().settings,
            app_id=ctx.app_id,
            tenant_id=ctx.tenant_id,
            file_id=file_id,
            as_attachment=as_attachment,
        )
