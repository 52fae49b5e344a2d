"""A real MCP server for the tests, run as ``python mcp_server.py [PORT]``.

Over stdin/stdout without a port, over streamable HTTP on 127.0.0.1:PORT with
one. Each call of ``add`` is appended, as a JSON line, to the file that
``MCP_CALLS`` names, so a test can see what reached the server.
"""

from __future__ import annotations

import json
import os
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    with open(os.environ["MCP_CALLS"], "a", encoding="utf-8") as calls:
        calls.write(json.dumps({"tool": "add", "a": a, "b": b, "pid": os.getpid()}) + "\n")
    return a + b


@server.tool()
def sensor(name: str) -> str:
    """Read a sensor."""
    raise RuntimeError(f"the sensor {name} is down")


@server.tool()
def crash() -> str:
    """End the server in the middle of a call."""
    print("crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        server.run()
