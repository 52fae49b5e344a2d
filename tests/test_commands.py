"""argv building: pure, so every option and every zero is checked here."""

from __future__ import annotations

from typing import Any

import pytest

from ramalama_sdk.commands import (
    Mode,
    global_flags,
    list_argv,
    pull_argv,
    rm_argv,
    runtime_mode,
    runtime_takes,
    serve_argv,
    stop_argv,
)
from ramalama_sdk.options import ModelOptions

HOST = Mode(container=False)
PODMAN = Mode(container=True, engine="podman")


def serve(
    mode: Mode = HOST, cpu_count: int = 8, name: str | None = None, **options: Any
) -> list[str]:
    opts = ModelOptions(model="tinyllama", **options)
    return serve_argv("ramalama", opts, mode, port=9000, cpu_count=cpu_count, name=name)


def flag(argv: list[str], name: str) -> str | None:
    """The value after ``name``, None when absent; the model after ``--`` is not a flag."""
    head = argv[: argv.index("--")]
    return head[head.index(name) + 1] if name in head else None


def test_defaults_on_the_host() -> None:
    assert serve() == [
        "ramalama",
        "--nocontainer",
        "serve",
        "--port",
        "9000",
        "--host",
        "127.0.0.1",
        "--webui",
        "off",
        "--threads",
        "8",
        "--",
        "tinyllama",
    ]


def test_defaults_in_a_container() -> None:
    assert serve(PODMAN, name="sdk-1") == [
        "ramalama",
        "--container",
        "--engine",
        "podman",
        "serve",
        "--port",
        "9000",
        "--host",
        "127.0.0.1",
        "--webui",
        "off",
        "--name",
        "sdk-1",
        "--",
        "tinyllama",
    ]


@pytest.mark.parametrize(
    ("option", "value", "flag_name", "expected"),
    [
        ("temp", 0, "--temp", "0"),
        ("temp", 0.0, "--temp", "0"),
        ("temp", 0.2, "--temp", "0.2"),
        ("temp", 1, "--temp", "1"),
        ("ngl", 0, "--ngl", "0"),
        ("ngl", 33, "--ngl", "33"),
        ("max_tokens", 1, "--max-tokens", "1"),
        ("max_tokens", 512, "--max-tokens", "512"),
        ("ctx_size", 256, "--ctx-size", "256"),
        ("threads", 1, "--threads", "1"),
        ("threads", 3, "--threads", "3"),
        ("host", "0.0.0.0", "--host", "0.0.0.0"),
        ("host", "::1", "--host", "::1"),
    ],
)
def test_each_option_is_passed(option: str, value: Any, flag_name: str, expected: str) -> None:
    assert flag(serve(**{option: value}), flag_name) == expected


@pytest.mark.parametrize(
    ("option", "value", "flag_name"),
    [
        ("temp", 0.8, "--temp"),
        ("ngl", -1, "--ngl"),
        ("max_tokens", 0, "--max-tokens"),
        ("ctx_size", 0, "--ctx-size"),
    ],
)
def test_defaults_are_left_to_ramalama(option: str, value: Any, flag_name: str) -> None:
    assert flag(serve(**{option: value}), flag_name) is None


def test_all_threads_means_the_cores_on_the_host_only() -> None:
    assert flag(serve(HOST, cpu_count=2), "--threads") == "2"
    assert flag(serve(PODMAN, name="n"), "--threads") is None
    assert flag(serve(PODMAN, name="n", threads=6), "--threads") == "6"


def test_image_and_name_only_in_a_container() -> None:
    assert flag(serve(HOST, base_image="quay.io/x/y:1"), "--image") is None
    assert flag(serve(HOST, name="n"), "--name") is None
    argv = serve(PODMAN, name="n", base_image="quay.io/x/y:1")
    assert flag(argv, "--image") == "quay.io/x/y:1"
    assert flag(argv, "--name") == "n"


def test_every_option_at_once() -> None:
    argv = serve(
        PODMAN,
        name="n",
        base_image="img",
        temp=0,
        ngl=0,
        max_tokens=7,
        threads=2,
        ctx_size=1024,
        host="::1",
    )
    assert argv == [
        "ramalama",
        "--container",
        "--engine",
        "podman",
        "serve",
        "--port",
        "9000",
        "--host",
        "::1",
        "--webui",
        "off",
        "--name",
        "n",
        "--image",
        "img",
        "--temp",
        "0",
        "--ngl",
        "0",
        "--max-tokens",
        "7",
        "--ctx-size",
        "1024",
        "--threads",
        "2",
        "--",
        "tinyllama",
    ]


@pytest.mark.parametrize("name", ["--help", "-x", "a b; rm -rf /", "$(id)", "../.."])
def test_a_model_name_is_one_argument_after_the_separator(name: str) -> None:
    served = serve_argv("ramalama", ModelOptions(model=name), HOST, port=1, cpu_count=1)
    for argv in (served, pull_argv("ramalama", name, HOST)):
        assert argv[-2:] == ["--", name]
        assert argv.count(name) == 1


def test_other_commands() -> None:
    assert pull_argv("/bin/ramalama", "m", PODMAN) == [
        "/bin/ramalama",
        "--container",
        "--engine",
        "podman",
        "pull",
        "--",
        "m",
    ]
    assert stop_argv("ramalama", "sdk-1", PODMAN) == [
        "ramalama",
        "--container",
        "--engine",
        "podman",
        "stop",
        "--",
        "sdk-1",
    ]
    assert list_argv("ramalama", HOST) == ["ramalama", "--nocontainer", "list", "--json"]
    assert rm_argv("ramalama", ["a"], HOST) == ["ramalama", "--nocontainer", "rm", "--", "a"]
    assert global_flags(Mode(container=True)) == ["--container"]


def test_the_runtime_decides_the_options_and_the_mode() -> None:
    for option in ("temp", "ngl", "max_tokens", "ctx_size", "threads", "webui"):
        assert runtime_takes("llama.cpp", option)
    assert [o for o in ("temp", "ngl", "max_tokens", "ctx_size") if runtime_takes("vllm", o)] == [
        "ctx_size"
    ]
    assert [o for o in ("temp", "ngl", "max_tokens", "ctx_size") if runtime_takes("mlx", o)] == [
        "temp",
        "max_tokens",
    ]
    assert runtime_mode("mlx", PODMAN) == HOST
    assert runtime_mode("vllm", PODMAN) == PODMAN
    # The default runtime adds nothing: ramalama's own configuration stands.
    assert "--runtime" not in serve(PODMAN, name="n")
    assert serve(runtime="vllm")[1:4] == ["--nocontainer", "--runtime", "vllm"]


@pytest.mark.parametrize(
    ("args", "item"),
    [
        (["--parallel", "8"], "--runtime-args=--parallel 8"),
        (
            ("--alias", "my model", "--api-key-file", "/a b/k"),
            "--runtime-args=--alias 'my model' --api-key-file '/a b/k'",
        ),
    ],
)
def test_runtime_args_are_one_argv_item_ramalama_can_split(args: Any, item: str) -> None:
    argv = serve(runtime_args=args)
    assert item in argv and argv.index(item) < argv.index("--")
    assert flag(serve(), "--runtime-args") is None and not any(
        a.startswith("--runtime-args") for a in serve()
    )


@pytest.mark.parametrize("bad", ["--parallel 8", 8, [8], None])
def test_runtime_args_must_be_a_list_of_str(bad: Any) -> None:
    with pytest.raises(TypeError, match="runtime_args"):
        ModelOptions(model="m", runtime_args=bad)
