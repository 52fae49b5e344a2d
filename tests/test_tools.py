"""Tools from functions, classes and dicts: schemas, docstrings, argument checks (pure)."""

from __future__ import annotations

import enum
import json
import typing
from collections.abc import Callable
from typing import Any, Literal, Optional

import pydantic
import pytest
from typing_extensions import TypedDict

from ramalama_sdk.http import protocol
from ramalama_sdk.tools.definitions import ToolArgumentsError, tool_from, tools_from
from ramalama_sdk.tools.docstrings import parse_docstring


class Unit(enum.Enum):
    CELSIUS = "C"
    FAHRENHEIT = "F"


class Place(pydantic.BaseModel):
    """A place on Earth."""

    city: str
    country: str = "FR"


class Opaque:
    """A class pydantic knows no schema for."""


class Window(TypedDict):
    start: int
    end: int


def forecast(
    place: Place,
    days: int,
    unit: Unit = Unit.CELSIUS,
    detail: Literal["short", "long"] = "short",
    hours: Optional[list[int]] = None,  # noqa: UP045 - Optional is what users write
    extra: dict[str, float] | None = None,
    window: Window | None = None,
    ratio: float = 0.5,
    verbose: bool = False,
) -> str:
    """Forecast the weather.

    Args:
        place: Where to forecast.
        days (int): How many days,
            from today.
        unit: The temperature unit.
    """
    return f"{place.city} {days}"


def _parameters(function: object) -> dict[str, Any]:
    schema: dict[str, Any] = tool_from(function).schema()["function"]["parameters"]
    return schema


def test_a_function_becomes_a_typed_schema() -> None:
    tool = tool_from(forecast)
    function = tool.schema()["function"]
    assert function["name"] == "forecast"
    assert function["description"] == "Forecast the weather."
    params = function["parameters"]
    props = params["properties"]
    assert params["required"] == ["place", "days"]
    assert params["additionalProperties"] is False
    assert props["days"] == {"type": "integer", "description": "How many days, from today."}
    assert props["place"]["$ref"] == "#/$defs/Place"
    assert params["$defs"]["Place"]["required"] == ["city"]
    assert params["$defs"]["Unit"]["enum"] == ["C", "F"]
    assert props["detail"]["enum"] == ["short", "long"]
    assert props["hours"]["anyOf"][0] == {"type": "array", "items": {"type": "integer"}}
    assert props["extra"]["anyOf"][0]["additionalProperties"] == {"type": "number"}
    assert params["$defs"]["Window"]["required"] == ["start", "end"]
    assert props["ratio"]["type"] == "number" and props["verbose"]["type"] == "boolean"
    assert "title" not in json.dumps(params).replace('"title":', "")  # no generated titles
    json.dumps(tool.schema())  # sendable as it is


def test_arguments_are_converted_to_the_annotated_types() -> None:
    tool = tool_from(forecast)
    args, kwargs = tool.bind(
        {"place": {"city": "Paris"}, "days": 3, "unit": "F", "window": {"start": 1, "end": 2}}
    )
    assert args == []
    assert kwargs["place"] == Place(city="Paris")
    assert kwargs["unit"] is Unit.FAHRENHEIT
    assert kwargs["window"] == {"start": 1, "end": 2}
    assert "detail" not in kwargs  # the function's own default applies
    assert forecast(**kwargs) == "Paris 3"


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"days": 3}, "place: Field required"),
        ({"place": {"city": "X"}, "days": "many"}, "days: Input should be a valid integer"),
        ({"place": {"city": "X"}, "days": 1, "colour": "red"}, "colour: Extra inputs"),
        ({"place": {"city": "X"}, "days": 1, "unit": "K"}, "unit: Input should be 'C' or 'F'"),
    ],
)
def test_bad_arguments_are_a_readable_error(arguments: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ToolArgumentsError, match=complaint):
        tool_from(forecast).bind(arguments)


def test_parameter_names_that_pydantic_reserves_still_work() -> None:
    def odd(model_config: str, json: int, /, copy: bool = False) -> str:
        return f"{model_config}{json}{copy}"

    tool = tool_from(odd)
    assert set(_parameters(odd)["properties"]) == {"model_config", "json", "copy"}
    args, kwargs = tool.bind({"json": 2, "model_config": "a"})
    assert odd(*args, **kwargs) == "a2False"


def test_an_annotation_without_a_schema_is_a_type_error_naming_both() -> None:
    def bad(callback: Callable[[int], int], n: int) -> None: ...

    with pytest.raises(TypeError, match=r"tool 'bad': parameter 'callback' is annotated"):
        tool_from(bad)

    def worse(n: int, thing: Opaque) -> None: ...

    with pytest.raises(TypeError, match=r"tool 'worse': parameter 'thing' is annotated Opaque"):
        tool_from(worse)

    class Local:
        pass

    def local(n: int, thing: Local) -> None: ...

    with pytest.raises(TypeError, match=r"parameter 'thing' is annotated 'Local', which cannot"):
        tool_from(local)


def test_star_args_and_bad_names_are_refused() -> None:
    def spread(*values: int) -> None: ...

    with pytest.raises(TypeError, match=r"'values' \(\*args or \*\*kwargs\)"):
        tool_from(spread)
    with pytest.raises(ValueError, match="a tool's name"):
        tool_from(lambda x: x)
    with pytest.raises(TypeError, match="a tool must be"):
        tool_from(42)
    with pytest.raises(ValueError, match="two tools are named"):
        tools_from([forecast, forecast])


def test_a_pydantic_class_and_a_dict_are_tools_too() -> None:
    tool = tool_from(Place)
    assert tool.schema()["function"]["description"] == "A place on Earth."
    assert tool.bind({"city": "Oslo"}) == ([Place(city="Oslo")], {})
    raw = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}
    assert tool_from(raw).schema() == {
        "type": "function",
        "function": {"name": "ping", "parameters": {"type": "object"}},
    }
    assert tool_from({"name": "ping"}).function is None


def test_tools_and_tool_choice_as_request_options() -> None:
    checked = protocol.check_options({"tools": [forecast, Place], "tool_choice": "Place"})
    # llama-server knows no named choice: the one tool, required.
    assert checked["tool_choice"] == "required"
    assert [t["function"]["name"] for t in checked["tools"]] == ["Place"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="tool_choice 'nope' is neither"):
        protocol.check_options({"tools": [forecast], "tool_choice": "nope"})
    with pytest.raises(ValueError, match="tool_choice needs tools"):
        protocol.check_options({"tool_choice": "auto"})
    with pytest.raises(TypeError, match="a tool must be"):
        protocol.check_options({"tools": ["forecast"]})


GOOGLE = """Say hello.

    More about it.

    Args:
        name (str): Who.
        times: How often,
            at most ten.

    Returns:
        The greeting.
    """

NUMPY = """Say hello.

    More about it.

    Parameters
    ----------
    name : str
        Who.
    times : int, optional
        How often,
        at most ten.

    Returns
    -------
    str
    """

SPHINX = """Say hello.

    More about it.

    :param str name: Who.
    :param times: How often,
        at most ten.
    :returns: The greeting.
    """


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, SPHINX], ids=["google", "numpy", "sphinx"])
def test_the_three_docstring_styles(doc: str) -> None:
    parsed = parse_docstring(doc)
    assert parsed.description == "Say hello.\n\nMore about it."
    assert parsed.params == {"name": "Who.", "times": "How often, at most ten."}


def test_docstring_descriptions_reach_the_schema() -> None:
    def greet(name: str, times: int = 1) -> str:
        return name * times

    greet.__doc__ = NUMPY
    props = _parameters(greet)["properties"]
    assert props["name"]["description"] == "Who."
    assert props["times"]["description"] == "How often, at most ten."


def test_forward_references_resolve_or_fail_clearly() -> None:
    def later(x: Undefined) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="tool 'later': parameter 'x' is annotated 'Undefined'"):
        tool_from(later)
    assert typing.get_type_hints(forecast)["days"] is int
