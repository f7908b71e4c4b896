"""An MCP server for the tests, written with the official SDK's FastMCP.

    python mcp_server.py stdio            # over stdin/stdout
    python mcp_server.py http PORT        # streamable HTTP on 127.0.0.1:PORT/mcp

Tools: `add(a, b)` (structured result), `shout(text)` (text), `pixel()` (a PNG image),
`explode()` (a tool error).
"""

from __future__ import annotations

import base64
import sys

from mcp.server.fastmcp import FastMCP, Image

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAEnNCcKAAAAAElFTkSuQmCC"
)


def build(port: int = 8000) -> FastMCP:
    server = FastMCP("test-tools", host="127.0.0.1", port=port, log_level="WARNING")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @server.tool(description="Upper-case a text.")
    def shout(text: str) -> str:
        return text.upper() + "!"

    @server.tool(description="A one-pixel PNG.")
    def pixel() -> Image:
        return Image(data=PNG_1X1, format="png")

    @server.tool(description="Always fails.")
    def explode() -> str:
        raise ValueError("kaboom")

    return server


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        build().run("stdio")
    else:
        build(int(sys.argv[2])).run("streamable-http")
