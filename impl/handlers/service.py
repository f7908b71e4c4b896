"""GET / (the service welcome)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

from starlette.responses import Response

from impl.handlers._common import json_response
from impl.routing import operation


@cache
def server_version() -> str:
    """The installed package's version, read from its metadata once per process (reading it
    parses the distribution's METADATA file)."""
    try:
        return version("dify-service-contract")
    except PackageNotFoundError:
        return "0.0.0"


@operation("getServiceWelcome")
async def get_service_welcome() -> Response:
    return json_response({"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": server_version()})
