"""Bearer authentication: an app key resolves to the app it belongs to.

`bearer_info` is Connexion's `x-bearerInfoFunc` (injected into the spec at load time).  The
token_info it returns is `{"sub": <app id>, "app": AppContext, "key_id": <key id>}`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from connexion.security import AbstractSecurityHandler, BearerSecurityHandler

from impl import runtime
from impl.services.apps.store import context_for_token

BEARER_INFO_FUNC = "impl.auth.bearer_info"


async def bearer_info(token: str) -> dict[str, Any] | None:
    """token_info for a valid, active app key; None otherwise (Connexion answers 401).

    A valid key of a disabled app raises 403 forbidden, as Dify does.
    """
    state = runtime.current()
    context = await context_for_token(state.database, token.strip(), state.settings.key_cache_seconds)
    if context is None:
        return None
    return {"sub": context.app_id, "app": context, "key_id": context.key_id, "scope": []}


# Connexion's security handler (3.3) asks `inspect.signature` which keywords `bearer_info` takes
# on every authenticated request; with `__signature__` set that is a lookup, not an analysis.
bearer_info.__signature__ = inspect.signature(bearer_info)  # type: ignore[attr-defined]


class BearerKeyHandler(BearerSecurityHandler):  # type: ignore[misc]
    """Connexion's bearer handler; whether the key function takes `required_scopes` or `request`
    is asked once per function instead of twice per request (each an `inspect.signature`)."""

    @staticmethod
    @functools.cache
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        return bool(AbstractSecurityHandler._accepts_kwarg(func, keyword))


SECURITY_MAP = {"bearer": BearerKeyHandler}  # `AsyncApp(security_map=...)`


def inject_bearer_func(spec: dict[str, Any]) -> dict[str, Any]:
    """Point every bearer security scheme of the spec dict at `bearer_info` (in place)."""
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    for scheme in schemes.values():
        if (
            isinstance(scheme, dict)
            and scheme.get("type") == "http"
            and str(scheme.get("scheme", "")).lower() == "bearer"
        ):
            scheme["x-bearerInfoFunc"] = BEARER_INFO_FUNC
    return spec
