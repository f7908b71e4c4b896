"""Check modules, one per concern; importing this package registers every check (conformance.registry)."""

from conformance.checks import access, contract, features, pagination, scenarios, sdk, stop, streams

__all__ = ["access", "contract", "features", "pagination", "scenarios", "sdk", "stop", "streams"]
