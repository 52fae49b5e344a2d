"""parse() on the real stack: typed replies, re-asks, and clear failures."""

from __future__ import annotations

import pydantic
import pytest

from conftest import served_fixtures
from ramalama_sdk import (
    AsyncRamalamaModel,
    ParseAttempt,
    ParseError,
    RamalamaModel,
    ReplyCutOffError,
)


class City(pydantic.BaseModel):
    name: str
    population: int


model, amodel = served_fixtures("model_uri")


def test_parse_returns_a_validated_instance(model: RamalamaModel) -> None:
    city = model.parse("Name a large city.", City, max_tokens=200, seed=1)
    assert isinstance(city, City) and isinstance(city.population, int)


def test_retries_show_the_model_its_error_until_it_validates(model: RamalamaModel) -> None:
    seen: list[str] = []

    class Picky(pydantic.BaseModel):
        name: str

        @pydantic.field_validator("name")
        @classmethod
        def second_time_lucky(cls, value: str) -> str:
            seen.append(value)
            if len(seen) == 1:
                raise ValueError("the name must be a real city")
            return value

    picky = model.parse("A city?", Picky, retries=2, max_tokens=200, seed=1)
    assert isinstance(picky, Picky) and len(seen) == 2


def test_every_failed_reply_is_kept_in_the_error(model: RamalamaModel) -> None:
    class Never(pydantic.BaseModel):
        name: str

        @pydantic.field_validator("name")
        @classmethod
        def refuse(cls, value: str) -> str:
            raise ValueError("never good enough")

    with pytest.raises(ParseError) as caught:
        model.parse("A city?", Never, retries=2, max_tokens=200, seed=1)
    error = caught.value
    assert isinstance(error, ValueError)
    assert len(error.attempts) == 3
    for attempt in error.attempts:
        assert isinstance(attempt, ParseAttempt)
        assert attempt.reply.startswith("{") and "never good enough" in attempt.error
    assert "after 3 tries" in str(error)


def test_a_reply_cut_off_is_its_own_error(model: RamalamaModel) -> None:
    with pytest.raises(ReplyCutOffError, match="cut off at max_tokens") as caught:
        model.parse("A city?", City, max_tokens=3)
    assert caught.value.attempts[0].reply  # what did arrive


def test_bad_parse_arguments_fail_before_sending(model: RamalamaModel) -> None:
    with pytest.raises(TypeError, match="pydantic model class"):
        model.parse("x", dict)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="retries"):
        model.parse("x", City, retries=-1)
    with pytest.raises(TypeError, match="response_format"):
        model.parse("x", City, response_format=City)  # type: ignore[call-arg]


def test_the_schema_keeps_its_old_keyword_with_a_warning(model: RamalamaModel) -> None:
    """Programs written for parse(prompt, model=City) keep working; the
    keyword ``model`` is now the served model's name (as on a router)."""
    with pytest.warns(DeprecationWarning, match="schema") as record:
        city: City = model.parse("Name a large city.", model=City, max_tokens=200, seed=1)  # type: ignore[call-arg]
    assert record[0].filename == __file__  # the warning points at the caller
    assert isinstance(city, City)
    assert isinstance(model.parse("Name a large city.", schema=City, max_tokens=200, seed=1), City)
    with pytest.raises(TypeError, match="both"):
        model.parse("x", City, model=City)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="needs a pydantic class"):
        model.parse("x")


async def test_async_parse(amodel: AsyncRamalamaModel) -> None:
    city = await amodel.parse(
        [{"role": "user", "content": "A city?"}], City, max_tokens=200, seed=2
    )
    assert isinstance(city, City)
    with pytest.raises(ReplyCutOffError):
        await amodel.parse("A city?", City, max_tokens=3)
