"""Values that used to slip through to a raw exception or invalid JSON: each is
now a TypeError/ValueError before anything runs or is sent."""

from __future__ import annotations

import math

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel


@pytest.mark.parametrize("name", ["timeout", "request_timeout"])
@pytest.mark.parametrize("value", [10**10, 1e300])
def test_huge_timeouts_are_refused(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be at most"):
        RamalamaModel(model="tinyllama", **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"temperature": math.inf},
        {"temperature": math.nan},
        {"top_p": math.nan},
        {"max_tokens": 2**31},
        {"max_tokens": 10**30},
        {"response_format": {"type": "object", "properties": {"x": {"maximum": math.nan}}}},
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {"x": math.inf}}}},
    ],
)
def test_options_that_are_not_json_or_out_of_range(options: dict[str, object]) -> None:
    model = RamalamaModel(model="tinyllama")  # never served: the check comes first
    with pytest.raises(ValueError):
        model.chat("Hi", **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        model.stream("Hi", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["clé-secrète", "ключ", "key\u00a0x"])
def test_non_ascii_api_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="api_key"):
        RamalamaModel(model="tinyllama", api_key=key)
    with pytest.raises(ValueError, match="api_key"):
        RamalamaModel.connect("http://127.0.0.1:1/v1", api_key=key, model="m")


@pytest.mark.parametrize("host", ["[::1]", "http://127.0.0.1", "127.0.0.1:8080", "a b", ""])
def test_bad_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        RamalamaModel(model="tinyllama", host=host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "::", "localhost", "gpu-box"])
def test_good_hosts_are_kept(host: str) -> None:
    assert RamalamaModel(model="tinyllama", host=host).options.host == host


@pytest.mark.parametrize(
    "url",
    [
        "garbage",
        "http://",
        "http://:8080/v1",
        "http://127.0.0.1:99999/v1",
        "http://127.0.0.1:port/v1",
        "ftp://127.0.0.1/v1",
        "http://a b/v1",
        "http://[::1/v1",
        "http://127.0.0.1:8080/v1?x=1",
    ],
)
async def test_garbage_connect_urls_are_value_errors(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        RamalamaModel.connect(url, model="m")
    with pytest.raises(ValueError, match="base_url"):
        await AsyncRamalamaModel.connect(url, model="m")
