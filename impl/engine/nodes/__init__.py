"""Node implementations; importing this package registers every handler with the runner."""

import impl.engine.nodes.agent
import impl.engine.nodes.basic
import impl.engine.nodes.code
import impl.engine.nodes.containers
import impl.engine.nodes.documents
import impl.engine.nodes.http
import impl.engine.nodes.human
import impl.engine.nodes.knowledge
import impl.engine.nodes.lists
import impl.engine.nodes.llm
import impl.engine.nodes.tool  # noqa: F401
