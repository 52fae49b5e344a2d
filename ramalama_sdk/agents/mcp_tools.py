"""MCP servers as tool sources: their tools join a model's plain functions.

    weather = McpServer.stdio([sys.executable, "weather_server.py"])
    model.act("Weather in Oslo?", [get_time, weather])

``act()`` opens each server (a command it runs, talking over stdin and
stdout, or a streamable-HTTP URL) with the official ``mcp`` client, lists
its tools, and offers them to the model beside the plain functions. A call
is checked against the tool's input schema, sent to the server, and its
result fed back; a result the server marks as an error is a tool error the
model sees. A server that dies or cannot be reached is a ``ToolServerError``.
Every server is closed when the call ends, whatever happens.

The ``mcp`` client is asyncio code. ``AsyncRamalamaModel`` runs it in the
caller's loop; ``RamalamaModel`` runs it in an event loop of its own, in a
thread of its own (anyio's blocking portal), for the length of the call, so
a blocking caller never needs a loop of its own (Jupyter's running loop,
threads, forked workers).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ToolServerError
from ..http.addresses import is_loopback_url
from ..tools.definitions import Tool, ToolArgumentsError, ToolLike

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal
    from mcp import Client

DEFAULT_CALL_TIMEOUT = 300.0
_LOG_TAIL = 4_000  # characters of a stdio server's stderr shown in an error


class McpToolError(Exception):
    """A tool of an MCP server answered with an error (its text is the message)."""


@dataclass(frozen=True)
class McpServer:
    """An MCP server whose tools a model may call; give it among ``act()``'s tools.

        McpServer.stdio(["npx", "-y", "@modelcontextprotocol/server-filesystem", "."])
        McpServer.http("http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer K"})

    ``timeout`` bounds each tool call, in seconds.
    """

    command: tuple[str, ...] = ()
    url: str | None = None
    env: Mapping[str, str] | None = dataclasses.field(default=None, repr=False)
    cwd: str | None = None
    headers: Mapping[str, str] | None = dataclasses.field(default=None, repr=False)
    timeout: float = DEFAULT_CALL_TIMEOUT

    @classmethod
    def stdio(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> McpServer:
        """A server that runs as ``command`` (an argv list) and speaks over stdin/stdout."""
        if isinstance(command, (str, bytes)) or not isinstance(command, Sequence):
            raise TypeError("command must be a list of str, e.g. ['python', 'server.py']")
        return cls(
            command=tuple(command),
            env=env,
            cwd=None if cwd is None else os.fspath(cwd),
            timeout=timeout,
        )

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> McpServer:
        """A server at a streamable-HTTP ``url`` (``http://host:port/mcp``)."""
        return cls(url=url, headers=headers, timeout=timeout)

    def __post_init__(self) -> None:
        if (not self.command) == (self.url is None):
            raise ValueError("an MCP server is a command or a URL: McpServer.stdio() or .http()")
        if not all(isinstance(a, str) and a and "\0" not in a for a in self.command):
            raise TypeError("command must be non-empty strs without NUL characters")
        if self.url is not None and (
            not isinstance(self.url, str) or not self.url.startswith(("http://", "https://"))
        ):
            raise ValueError(f"url must be an http:// or https:// URL, not {self.url!r}")
        for name in ("env", "headers"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, Mapping)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            ):
                raise TypeError(f"{name} must be a dict of str to str")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)):
            raise TypeError("timeout must be a number of seconds")
        if not 0 < self.timeout < float("inf"):
            raise ValueError(f"timeout must be > 0 seconds, not {self.timeout}")

    @property
    def label(self) -> str:
        """How errors name the server: its command or URL."""
        return " ".join(self.command) if self.command else str(self.url)


ToolSource = ToolLike | Tool | McpServer
"""What ``act()`` takes as a tool: a function, a pydantic class, a schema, a
``Tool`` (an MCP server's tools are), an MCP server."""


def split(tools: object) -> tuple[list[object], list[McpServer]]:
    """The plain tools and the MCP servers of a tools list, in order.

    >>> split([print, McpServer.http("http://127.0.0.1:1/mcp")])[1][0].url
    'http://127.0.0.1:1/mcp'
    """
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Iterable):
        return [tools], []  # tools_from() says what is wrong with it
    plain: list[object] = []
    servers: list[McpServer] = []
    for tool in tools:
        (servers if isinstance(tool, McpServer) else plain).append(tool)
    return plain, servers


def result_text(result: Any) -> str:
    """A ``CallToolResult``'s content as the text of a ``tool`` message."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or ():
        text = getattr(item, "text", None)
        if isinstance(text, str):
            parts.append(text)
        else:  # an image, audio or resource: the model can only be told of it
            kind = getattr(item, "type", "content")
            mime = getattr(item, "mime_type", None) or getattr(item, "mimeType", None)
            parts.append(f"[{kind}{f' {mime}' if mime else ''}]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


ArgumentCheck = Callable[[Mapping[str, Any]], dict[str, Any]]


def schema_checker(name: str, schema: Mapping[str, Any]) -> ArgumentCheck:
    """A check of a call's arguments against an MCP tool's input schema."""
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise ToolServerError(
            f"the MCP tool {name!r} has an invalid input schema: {exc.message}"
        ) from None
    validator = validator_class(schema)

    def check(arguments: Mapping[str, Any]) -> dict[str, Any]:
        errors = sorted(validator.iter_errors(dict(arguments)), key=lambda e: list(e.path))
        if errors:
            where = ".".join(str(p) for p in errors[0].path)
            raise ToolArgumentsError(f"{where + ': ' if where else ''}{errors[0].message}")
        return dict(arguments)

    return check


@contextlib.asynccontextmanager
async def _connected(server: McpServer) -> AsyncIterator[tuple[Client, Callable[[], str]]]:
    """An initialized client of ``server``, and a reader of what it logged."""
    try:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client
    except ImportError:
        raise ImportError(
            "MCP servers as tools need the 'mcp' package: install this project with its "
            'mcp extra (pip install "./ramalama-sdk[mcp]" from a clone)'
        ) from None

    async with contextlib.AsyncExitStack() as stack:
        if server.command:
            # The server's stderr goes to a file of ours, not to the console or
            # a notebook: its last lines explain a server that died.
            errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))  # noqa: SIM115

            def log() -> str:
                errlog.flush()
                errlog.seek(0)
                return errlog.read()[-_LOG_TAIL:].strip()

            params = StdioServerParameters(
                command=server.command[0],
                args=list(server.command[1:]),
                env=dict(server.env) if server.env else None,
                cwd=server.cwd,
            )
            transport: Any = stdio_client(params, errlog=errlog)
        else:
            import httpx2

            assert server.url is not None

            def log() -> str:
                return ""

            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=dict(server.headers or {}),
                    timeout=httpx2.Timeout(30.0, read=server.timeout),
                    # A server on this machine is reached directly, never through a proxy.
                    trust_env=not is_loopback_url(server.url),
                )
            )
            transport = streamable_http_client(server.url, http_client=http)
        try:
            client = await stack.enter_async_context(
                Client(transport, read_timeout_seconds=server.timeout, mode="legacy")
            )
        except Exception as exc:
            raise _server_error(server, "could not be started or reached", exc, log()) from exc
        yield client, log


async def _listed(client: Client) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools


def _server_error(server: McpServer, what: str, exc: BaseException, log: str) -> ToolServerError:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    tail = f"; it logged: {log}" if log else ""
    return ToolServerError(f"the MCP server {server.label!r} {what} ({detail}){tail}")


async def _remote_tools(server: McpServer, client: Client, log: Callable[[], str]) -> list[Tool]:
    """The server's tools, each calling the server with checked arguments."""
    try:
        listed = await _listed(client)
    except Exception as exc:
        raise _server_error(server, "could not list its tools", exc, log()) from exc
    tools = []
    for remote in listed:
        schema = dict(remote.input_schema or {"type": "object", "properties": {}})

        async def call(_name: str = remote.name, **arguments: Any) -> str:
            try:
                result = await client.call_tool(_name, arguments)
            except Exception as exc:
                what = f"failed during a call of {_name!r}"
                raise _server_error(server, what, exc, log()) from exc
            text = result_text(result)
            if result.is_error:
                raise McpToolError(text or f"the tool {_name!r} failed")
            return text

        tools.append(
            Tool(
                name=remote.name,
                description=remote.description or "",
                parameters=schema,
                function=call,
                _check=schema_checker(remote.name, schema),
            )
        )
    return tools


@contextlib.asynccontextmanager
async def _all_tools(servers: Sequence[McpServer]) -> AsyncIterator[list[Tool]]:
    async with contextlib.AsyncExitStack() as stack:
        tools: list[Tool] = []
        for server in servers:
            client, log = await stack.enter_async_context(_connected(server))
            tools += await _remote_tools(server, client, log)
        yield tools


@contextlib.asynccontextmanager
async def opened_async(tools: object) -> AsyncIterator[object]:
    """``tools`` with each MCP server replaced by its tools, open for the block.

    Without MCP servers, ``tools`` as it is, and nothing is opened.
    """
    plain, servers = split(tools)
    if not servers:
        yield tools
        return
    # The block's own exception is not thrown into the clients: they close
    # as after a clean exit (their task groups would wrap it in a group).
    async with contextlib.AsyncExitStack() as stack:
        remote = await stack.enter_async_context(_all_tools(servers))
        try:
            yield [*plain, *remote]
        finally:
            await stack.aclose()


@contextlib.contextmanager
def opened(tools: object) -> Iterator[object]:
    """``opened_async()`` for blocking code: the clients run in an event loop of
    their own, in a thread of its own, and each tool call waits for its answer."""
    plain, servers = split(tools)
    if not servers:
        yield tools
        return
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal, contextlib.ExitStack() as stack:
        remote = stack.enter_context(portal.wrap_async_context_manager(_all_tools(servers)))
        try:
            yield [*plain, *(_blocking(tool, portal) for tool in remote)]
        finally:
            stack.close()  # as after a clean exit (see opened_async)


def _blocking(tool: Tool, portal: BlockingPortal) -> Tool:
    remote = tool.function
    assert remote is not None

    def call(**arguments: Any) -> Any:
        return portal.call(lambda: remote(**arguments))

    return dataclasses.replace(tool, function=call)
