"""The act() loop around tools, parse(), and tools from MCP servers."""
