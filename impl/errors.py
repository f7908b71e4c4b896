"""The error envelope: every failure leaves the server as `{"code", "message", "status"}`.

`ApiError` is what services and handlers raise.  `install_error_handlers` teaches a Connexion
app to turn its own exceptions (validation, auth, content type, routing, multipart, decoding)
and any unexpected exception into the same envelope.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from connexion.exceptions import (
    BadRequestProblem,
    OAuthProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

log = logging.getLogger("impl.errors")

MODE_MISMATCH_MESSAGE = "Please check if your app mode matches the right API route."
APP_UNAVAILABLE_MESSAGE = "App unavailable, please check your app configurations."
INVALID_JSON_MESSAGE = "Invalid JSON payload received or JSON payload is empty."
INTERNAL_MESSAGE = "The server encountered an internal error and could not complete your request."
# The spec requires the `file` part of the two multipart operations; when it is missing, Dify
# answers with an operation-specific code rather than a generic validation error (DEVIATIONS D7).
MISSING_FILE_ERRORS = {
    "/files/upload": ("no_file_uploaded", "Please upload your file."),
    "/audio-to-text": ("no_audio_uploaded", "Please upload your audio."),
}
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="api"'}

# Dify's wording of the three ways a bearer header can fail.
AUTH_HEADER_MISSING = "Authorization header must be provided and start with 'Bearer'"
AUTH_SCHEME_WRONG = "Authorization scheme must be 'Bearer'"
AUTH_TOKEN_INVALID = "Access token is invalid"

# Code for a bare HTTP status when nothing more specific is known (snake_case of the reason).
_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_server_error",
    501: "not_implemented",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error with a wire code, a human message and an HTTP status."""

    def __init__(
        self, code: str, message: str, status: int, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"ApiError({self.code!r}, {self.message!r}, {self.status})"

    def envelope(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status}


def invalid_param(message: str) -> ApiError:
    return ApiError("invalid_param", message, 400)


def bad_request(message: str) -> ApiError:
    return ApiError("bad_request", message, 400)


def not_found(message: str, code: str = "not_found") -> ApiError:
    return ApiError(code, message, 404)


def forbidden(message: str) -> ApiError:
    return ApiError("forbidden", message, 403)


def unauthorized(message: str = AUTH_TOKEN_INVALID) -> ApiError:
    return ApiError("unauthorized", message, 401, WWW_AUTHENTICATE)


def app_unavailable(message: str = APP_UNAVAILABLE_MESSAGE) -> ApiError:
    return ApiError("app_unavailable", message, 400)


def mode_error(code: str) -> ApiError:
    """The error an operation answers with when the key's app mode does not serve it."""
    if code == "app_unavailable":
        return app_unavailable()
    return ApiError(code, MODE_MISMATCH_MESSAGE, 400)


def payload_too_large(
    message: str = "Request body is too large.", code: str = "request_entity_too_large"
) -> ApiError:
    return ApiError(code, message, 413)


def internal_error(message: str = INTERNAL_MESSAGE) -> ApiError:
    return ApiError("internal_server_error", message, 500)


def status_code_name(status: int) -> str:
    return _STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_server_error")


def first_line(text: str | None) -> str:
    """Validation messages can span lines (jsonschema dumps the schema); keep the first."""
    if not text:
        return ""
    return text.strip().splitlines()[0].strip()


def envelope_response(
    code: str, message: str, status: int, headers: Mapping[str, str] | None = None
) -> ConnexionResponse:
    body = json.dumps({"code": code, "message": message, "status": status})
    extra = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type", "content-length")}
    return ConnexionResponse(status_code=status, body=body, content_type="application/json", headers=extra)


def _auth_message(request: ConnexionRequest) -> str:
    header = request.headers.get("authorization")
    if not header or len(header.split(None, 1)) < 2:
        return AUTH_HEADER_MISSING
    scheme = header.split(None, 1)[0]
    if scheme.lower() != "bearer":
        return AUTH_SCHEME_WRONG
    return AUTH_TOKEN_INVALID


def _api_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ApiError)
    if exc.status >= 500:
        log.error("server error %s: %s", exc.code, exc.message)
    return envelope_response(exc.code, exc.message, exc.status, exc.headers)


def _problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, ProblemException)
    status = int(exc.status or 500)
    headers = getattr(exc, "headers", None)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if isinstance(exc, OAuthProblem) or status == 401:
        return envelope_response("unauthorized", _auth_message(request), 401, WWW_AUTHENTICATE)
    if isinstance(exc, UnsupportedMediaTypeProblem) or status == 415:
        return envelope_response("unsupported_media_type", first_line(detail or exc.title), 415, headers)
    if isinstance(exc, BadRequestProblem):
        if isinstance(exc.__context__, json.JSONDecodeError) or detail in (
            "Request body must not be empty",
            "RequestBody is required",
        ):
            return envelope_response("bad_request", INVALID_JSON_MESSAGE, 400)
        several_files = (detail or "").endswith("is not of type 'string' - 'file'")
        if several_files and request.url.path.endswith("/files/upload"):
            # Several `file` parts arrive as a list; Dify allows one file per request.
            return envelope_response("too_many_files", "Only one file is allowed.", 400)
        if detail == "'file' is a required property":
            for suffix, (code, message) in MISSING_FILE_ERRORS.items():
                if request.url.path.endswith(suffix):
                    return envelope_response(code, message, 400)
        return envelope_response("invalid_param", first_line(detail or exc.title), 400, headers)
    if status >= 500:
        log.error("problem %s: %s", status, detail or exc.title)
    message = first_line(detail or exc.title) or status_code_name(status)
    return envelope_response(status_code_name(status), message, status, headers)


def _http_exception(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = "The requested URL was not found on the server."
    elif status == 405:
        message = "The method is not allowed for the requested URL."
    else:
        message = first_line(exc.detail) or status_code_name(status)
    return envelope_response(status_code_name(status), message, status, exc.headers)


def _multipart(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    message = first_line(getattr(exc, "message", "") or str(exc)) or "Malformed multipart body."
    return envelope_response("bad_request", message, 400)


def _unicode(_request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
    return envelope_response("bad_request", "The request body is not valid UTF-8.", 400)


def _catch_all(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope_response("internal_server_error", INTERNAL_MESSAGE, 500)


def install_error_handlers(app: Any) -> None:
    """Register the envelope handlers on a Connexion app (AsyncApp or its middleware)."""
    app.add_error_handler(ApiError, _api_error)
    app.add_error_handler(ProblemException, _problem)
    app.add_error_handler(HTTPException, _http_exception)
    app.add_error_handler(MultiPartException, _multipart)
    app.add_error_handler(UnicodeDecodeError, _unicode)
    app.add_error_handler(Exception, _catch_all)
