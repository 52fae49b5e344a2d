"""Tools for the model to call: from plain functions, pydantic classes or schemas.

    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
        '''The weather in a city.

        Args:
            city: The city's name.
        '''

    tool_from(get_weather).schema()   # the OpenAI "tools" entry

A function's name, docstring and annotations become the tool's name,
description and JSON schema (built by pydantic); the same pydantic model
later checks and converts the arguments that the model sends, so the function
receives the annotated types (an int as an int, an Enum member, a pydantic
instance for a pydantic-typed parameter). Pure: nothing here sends anything.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .docstrings import parse_docstring

if TYPE_CHECKING:
    import pydantic

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolArgumentsError(ValueError):
    """The model's arguments for a tool do not fit the tool's parameters."""


@dataclass(frozen=True)
class Tool:
    """One tool: what the model is told about it, and how to run it.

    ``function`` is None for a tool given as a bare JSON schema: the model
    can call it, but ``act()`` cannot run it.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any] | None = None
    # The pydantic model that checks and converts the arguments, and for each
    # of its fields the parameter it fills. None: the tool is that class, and
    # the function receives its instance (a function without parameters has
    # an empty tuple, and is called with nothing).
    _arguments: type[pydantic.BaseModel] | None = field(default=None, repr=False)
    _fields: tuple[tuple[str, str, bool], ...] | None = field(default=None, repr=False)
    # A tool whose schema comes from elsewhere (an MCP server): its check of
    # the arguments, which then go to the function as keywords.
    _check: Callable[[Mapping[str, Any]], dict[str, Any]] | None = field(default=None, repr=False)

    def schema(self) -> dict[str, Any]:
        """The tool as an entry of a request's ``tools`` list."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def bind(self, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments of a call, checked and converted.

        Raises ToolArgumentsError with a readable reason.
        """
        import pydantic

        if self._check is not None:
            return [], self._check(arguments)
        if self._arguments is None:
            raise ToolArgumentsError(f"tool {self.name!r} has no Python function to run")
        try:
            checked = self._arguments.model_validate(dict(arguments))
        except pydantic.ValidationError as exc:
            raise ToolArgumentsError(readable_error(exc)) from None
        if self._fields is None:  # the tool is the pydantic class itself
            return [checked], {}
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for attribute, parameter, positional in self._fields:
            value = getattr(checked, attribute)  # a default when not given
            if positional:
                args.append(value)
            elif parameter in arguments:
                kwargs[parameter] = value  # else the function's own default applies
        return args, kwargs


ToolLike = Callable[..., Any] | Mapping[str, Any]
"""A tool as the user gives it: a function, a pydantic model class or a schema dict."""


def tool_from(value: object) -> Tool:
    """The Tool for a function, a pydantic model class or a JSON-schema dict.

    >>> def add(a: int, b: int = 1) -> int:
    ...     '''Add two numbers.'''
    ...     return a + b
    >>> function = tool_from(add).schema()["function"]
    >>> function["name"], function["description"], function["parameters"]["required"]
    ('add', 'Add two numbers.', ['a'])
    >>> function["parameters"]["properties"]
    {'a': {'type': 'integer'}, 'b': {'default': 1, 'type': 'integer'}}
    """
    if isinstance(value, Tool):
        return value
    if isinstance(value, Mapping):
        return _from_schema(value)
    if isinstance(value, type) and _is_pydantic_model(value):
        return _from_model(value)
    if callable(value):
        return _from_function(value)
    raise TypeError(
        "a tool must be a function, a pydantic model class or a JSON-schema dict, "
        f"not {type(value).__name__}"
    )


def tools_from(values: object) -> list[Tool]:
    """Tools from a list, each checked; names must be unique."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError("tools must be a list of functions, pydantic classes or schema dicts")
    tools = [tool_from(v) for v in values]
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise ValueError(f"two tools are named {tool.name!r}")
        seen.add(tool.name)
    return tools


def tools_in_body(body: bytes) -> bool:
    """Whether a chat request body offers the model tools it may call.

    >>> tools_in_body(b'{"messages":[],"tools":[{"type":"function"}]}')
    True
    >>> tools_in_body(b'{"tools":[{"type":"function"}],"tool_choice":"none"}')
    False
    >>> tools_in_body(b'{"messages":[{"role":"user","content":"\\"tools\\":[1]"}]}')
    False
    """
    if b'"tools":' not in body:  # the common case, without parsing a large body
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(payload, dict)
        and bool(payload.get("tools"))
        and payload.get("tool_choice") != "none"
    )


def tool_result_text(value: object) -> str:
    """A tool's return value as the text of a ``tool`` message.

    >>> tool_result_text("sunny"), tool_result_text({"temp": 21}), tool_result_text(None)
    ('sunny', '{"temp": 21}', 'null')
    """
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)
    if callable(dump) and not isinstance(value, type):
        return str(dump())
    try:
        return json.dumps(value, ensure_ascii=False, default=_fallback)
    except (TypeError, ValueError):
        return str(value)


def _fallback(value: object) -> object:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(value)  # type: ignore[call-overload]
    return str(value)


# -- building ------------------------------------------------------------------


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what}: a tool's name must be 1-64 letters, digits, '_' or '-', not {name!r}"
        )
    return name


def _from_schema(value: Mapping[str, Any]) -> Tool:
    spec: Mapping[str, Any] = value
    if value.get("type") == "function" and isinstance(value.get("function"), Mapping):
        spec = value["function"]
    name = _check_name(spec.get("name"), "a tool dict")
    parameters = spec.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, Mapping):
        raise TypeError(f"tool {name!r}: 'parameters' must be a JSON schema dict")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise TypeError(f"tool {name!r}: 'description' must be a str")
    try:
        json.dumps(parameters)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tool {name!r}: 'parameters' is not JSON: {exc}") from None
    return Tool(name, description, dict(parameters))


def _is_pydantic_model(value: type) -> bool:
    return callable(getattr(value, "model_json_schema", None)) and callable(
        getattr(value, "model_validate", None)
    )


def _from_model(model: type[pydantic.BaseModel]) -> Tool:
    name = _check_name(model.__name__, f"class {model.__qualname__}")
    description = parse_docstring(model.__doc__).description
    parameters = _strip_titles(model.model_json_schema())
    return Tool(name, description, parameters, _validated, model, None)


def _validated(instance: object) -> object:
    """What "running" a pydantic class tool gives: the checked instance."""
    return instance


def _from_function(function: Callable[..., Any]) -> Tool:
    import pydantic

    label = getattr(function, "__qualname__", None) or repr(function)
    name = _check_name(getattr(function, "__name__", None), f"function {label}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"tool {name!r}: cannot read its signature ({exc})") from None
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve
        raise TypeError(
            f"tool {name!r}: {_unresolved(function, signature)}cannot be resolved ({exc}); "
            "define the types it uses at module level"
        ) from None
    doc = parse_docstring(inspect.getdoc(function))
    definitions: dict[str, Any] = {}
    fields: list[tuple[str, str, bool]] = []
    for index, parameter in enumerate(signature.parameters.values()):
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(
                f"tool {name!r}: parameter {parameter.name!r} (*args or **kwargs) "
                "cannot be described to a model; give each argument its own parameter"
            )
        annotation = hints.get(parameter.name, Any)
        _check_annotation(name, parameter.name, annotation)
        attribute = f"p{index}"  # any parameter name, even one pydantic reserves
        default = ... if parameter.default is parameter.empty else parameter.default
        definitions[attribute] = (
            annotation,
            pydantic.Field(
                default, alias=parameter.name, description=doc.params.get(parameter.name)
            ),
        )
        fields.append((attribute, parameter.name, parameter.kind == parameter.POSITIONAL_ONLY))
    try:
        arguments = pydantic.create_model(
            f"{name}_arguments",
            __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **definitions,
        )
        parameters = _strip_titles(arguments.model_json_schema(by_alias=True))
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise TypeError(f"tool {name!r}: its parameters cannot be expressed ({exc})") from None
    parameters.pop("description", None)
    return Tool(name, doc.description, parameters, function, arguments, tuple(fields))


def _unresolved(function: Callable[..., Any], signature: inspect.Signature) -> str:
    """Which parameter's annotation does not resolve, as "parameter 'x' ...: "."""
    namespace = getattr(function, "__globals__", {})
    for parameter in signature.parameters.values():
        annotation = parameter.annotation
        if isinstance(annotation, str):
            try:
                eval(annotation, namespace)
            except Exception:
                return f"parameter {parameter.name!r} is annotated {annotation!r}, which "
    return "its annotations "


def _check_annotation(tool: str, parameter: str, annotation: object) -> None:
    """TypeError naming the function and the parameter if no JSON schema fits."""
    import pydantic

    try:
        pydantic.TypeAdapter[Any](annotation).json_schema()  # type: ignore[arg-type]
    except (
        pydantic.PydanticSchemaGenerationError,
        pydantic.PydanticInvalidForJsonSchema,
        pydantic.PydanticUserError,
        TypeError,
        NameError,
    ) as exc:
        reason = str(exc).splitlines()[0]
        raise TypeError(
            f"tool {tool!r}: parameter {parameter!r} is annotated {_type_name(annotation)}, "
            f"which cannot be expressed as JSON schema ({reason})"
        ) from None


def _type_name(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's generated ``title`` keys: they only lengthen the prompt.

    A property that is itself named "title" is kept.
    """
    if isinstance(schema, dict):
        cleaned: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                cleaned[key] = {k: _strip_titles(v) for k, v in value.items()}
            else:
                cleaned[key] = _strip_titles(value)
        return cleaned
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def readable_error(error: pydantic.ValidationError) -> str:
    """A validation error in a line per problem, the way a model can use it."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        lines.append(f"{where}: {problem['msg']}")
    return "; ".join(lines)
