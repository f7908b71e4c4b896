"""The catalog: every check the suite can report, with its stable id, read from the registry.

Each check module registers its functions with their entries (`conformance.registry`); importing
`conformance.checks` fills the registry. Ids never change meaning once published; a retired check keeps
its id reserved.
"""

from __future__ import annotations

import conformance.checks  # noqa: F401  (registers every check)
from conformance.capabilities import CAPABILITIES, CHAT_MODES, GENERATION_OPS, OPERATION_CAPABILITIES
from conformance.model import CheckSpec
from conformance.registry import REGISTRY

CHECKS: tuple[CheckSpec, ...] = REGISTRY.specs()
BY_ID: dict[str, CheckSpec] = {c.id: c for c in CHECKS}

__all__ = ["BY_ID", "CAPABILITIES", "CHAT_MODES", "CHECKS", "GENERATION_OPS", "OPERATION_CAPABILITIES"]
