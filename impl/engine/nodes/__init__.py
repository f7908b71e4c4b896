"""Node implementations; importing this package registers every handler with the runner."""

from impl.engine.nodes import basic, containers, http, human, llm  # noqa: F401
