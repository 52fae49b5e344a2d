"""Finding, proving and building the llama-server: the stack every other test stands on.

The probe and the setup command run for real against the llama-server of this
run. A binary built for another CPU cannot exist on this one, so where a test
needs one that dies while loading, a small script stands in for it and prints
what such a binary prints (see RAMALAMA-FACTS: exit 252 after "AMX is not ready
to be used!"); those tests say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import server_processes
from ramalama_sdk.stack import cache, server_binary, server_build
from ramalama_sdk.stack.server_binary import LlamaServer, ProbeError, find_or_build, probe
from ramalama_sdk.stack.server_build import BuildError, BuildRecipe, build, cached, recipe_for
from ramalama_sdk.testing import tiny_model


@pytest.fixture(scope="module")
def proven() -> LlamaServer:
    """The cached source build for this CPU, which ``make install`` makes."""
    entry = server_build.cached(recipe_for())
    if entry is None:
        pytest.skip(
            "no cached source build for this CPU: this run's llama-server came from "
            "LLAMA_SERVER or PATH (python -m ramalama_sdk.testing setup --force-build makes one)"
        )
    return find_or_build(force_build=True, build=False)


@pytest.fixture(scope="module")
def quantized_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("probe") / "q.gguf", quantized=True)


def _dies_like_a_binary_for_another_cpu(directory: Path) -> Path:
    """Stand-in: a real binary for another CPU cannot exist on this one."""
    script = directory / "llama-server"
    script.write_text(
        "#!/bin/sh\n"
        'echo "load_tensors: loading model tensors" >&2\n'
        'echo "AMX is not ready to be used!" >&2\n'
        "exit 252\n"
    )
    script.chmod(0o755)
    return script


def test_the_quantized_tiny_model_holds_the_quantized_types(quantized_model: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(str(quantized_model))
    types = {tensor.tensor_type.name for tensor in reader.tensors}
    assert {"Q4_0", "Q5_0", "Q8_0"} <= types


def test_the_build_says_which_llama_cpp_it_is(proven: LlamaServer, model_uri: str) -> None:
    # A source tree that is not a git checkout says "build 0" unless told.
    number = server_build.LLAMA_CPP_VERSION.split(".")[0]
    assert f"(build {number}, " in proven.version, proven.version
    from ramalama_sdk import RamalamaModel

    with RamalamaModel(model=model_uri) as model:
        assert model.info().build == f"b{number}-unknown"  # /props says it too


def test_the_probe_serves_a_quantized_model_with_the_real_binary(quantized_model: Path) -> None:
    probe(find_or_build(build=False).path, quantized_model)  # raises if it cannot serve
    assert server_processes() == []


def test_the_probe_rejects_a_binary_that_dies_loading(
    tmp_path: Path, quantized_model: Path
) -> None:
    binary = _dies_like_a_binary_for_another_cpu(tmp_path)
    with pytest.raises(ProbeError) as caught:
        probe(binary, quantized_model, timeout=60)
    assert "exited with code 252" in str(caught.value)
    assert caught.value.log_tail[-1] == "AMX is not ready to be used!"


def test_an_explicit_llama_server_that_fails_the_probe_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMA_SERVER", str(_dies_like_a_binary_for_another_cpu(tmp_path)))
    monkeypatch.delenv(server_binary.FORCE_BUILD_ENV, raising=False)
    with pytest.raises(ProbeError, match="code 252"):
        find_or_build(build=False)


def test_a_llama_server_on_path_that_fails_the_probe_is_skipped_for_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proven: LlamaServer
) -> None:
    _dies_like_a_binary_for_another_cpu(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("LLAMA_SERVER", raising=False)
    monkeypatch.delenv(server_binary.FORCE_BUILD_ENV, raising=False)
    lines: list[str] = []
    found = find_or_build(build=False, progress=lines.append)
    assert found.origin == "build" and found.path == proven.path
    assert any("skipping the llama-server on PATH" in line and "252" in line for line in lines)


def test_an_explicit_llama_server_that_serves_is_used(
    monkeypatch: pytest.MonkeyPatch, proven: LlamaServer
) -> None:
    monkeypatch.setenv("LLAMA_SERVER", str(proven.path))
    monkeypatch.delenv(server_binary.FORCE_BUILD_ENV, raising=False)
    found = find_or_build(build=False)
    assert found.origin == "LLAMA_SERVER" and found.path == proven.path
    assert found.build_info is not None  # recognised as one of the cached builds


def test_forcing_the_build_ignores_path_and_llama_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proven: LlamaServer
) -> None:
    monkeypatch.setenv("LLAMA_SERVER", str(_dies_like_a_binary_for_another_cpu(tmp_path)))
    monkeypatch.setenv(server_binary.FORCE_BUILD_ENV, "1")
    found = find_or_build(build=False)
    assert found.origin == "build" and found.path == proven.path


def test_the_setup_command_prints_the_binary_links_it_and_writes_the_model(
    tmp_path: Path, proven: LlamaServer
) -> None:
    env = dict(os.environ, RAMALAMA_SDK_FORCE_BUILD="1")
    done = subprocess.run(
        [sys.executable, "-m", "ramalama_sdk.testing", "setup", "--dir", str(tmp_path / "m"),
         "--link", str(tmp_path / "bin")],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    binary, model = done.stdout.splitlines()
    assert Path(binary) == proven.path
    assert Path(model) == tmp_path / "m" / "tiny-llama.gguf" and Path(model).stat().st_size > 0
    assert (tmp_path / "bin" / "llama-server").resolve() == proven.path.resolve()
    # A line per stage on stderr, ending with what was chosen and how it was built.
    assert "probing" in done.stderr and "built for" in done.stderr
    assert server_processes() == []


def test_the_setup_command_reports_a_failed_explicit_binary(tmp_path: Path) -> None:
    env = dict(os.environ, LLAMA_SERVER=str(_dies_like_a_binary_for_another_cpu(tmp_path)))
    env.pop(server_binary.FORCE_BUILD_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "ramalama_sdk.testing", "setup"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "cannot serve on this machine" in done.stderr and "252" in done.stderr


# The cache: keyed so that a stale or half-built entry is never used.


def test_the_cache_key_follows_everything_that_makes_the_binary() -> None:
    base = recipe_for("x86-64-v3")
    assert base.key.startswith(f"{server_build.LLAMA_CPP_VERSION}-x86-64-v3-")
    variants = [
        BuildRecipe("1.0", base.level, base.flags, base.compiler),
        BuildRecipe(base.version, "x86-64-v2", base.flags, base.compiler),
        BuildRecipe(base.version, base.level, (*base.flags, "-DGGML_NATIVE=ON"), base.compiler),
        BuildRecipe(base.version, base.level, base.flags, "clang 99"),
    ]
    assert len({base.key, *(v.key for v in variants)}) == 5
    assert recipe_for("x86-64-v3").key == base.key  # and it is stable


def test_older_cpus_get_a_build_without_the_extensions_they_lack() -> None:
    assert "-DGGML_AVX2=OFF" not in recipe_for("x86-64-v3").flags
    assert "-DGGML_AVX2=OFF" in recipe_for("x86-64-v2").flags
    assert "-DGGML_SSE42=OFF" in recipe_for("x86-64").flags
    assert "-DGGML_NATIVE=OFF" in recipe_for("x86-64-v3").flags


def test_avx512_cpus_with_vnni_get_the_kernels_that_use_it() -> None:
    zen4 = recipe_for("x86-64-zen4")
    for extension in ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"):
        assert f"-DGGML_{extension}=ON" in zen4.flags
        assert f"-DGGML_{extension}=ON" not in recipe_for("x86-64-v3").flags
    assert "-DGGML_NATIVE=OFF" in zen4.flags
    assert zen4.key.startswith(f"{server_build.LLAMA_CPP_VERSION}-x86-64-zen4-")


def _entry(root: Path, recipe: BuildRecipe, content: bytes, recorded: bytes) -> Path:
    import hashlib

    from ramalama_sdk.stack.cache import file_sha256
    from ramalama_sdk.stack.cache_trust import format_sums

    directory = root / recipe.key
    directory.mkdir(parents=True)
    (directory / "llama-server").write_bytes(content)
    (directory / "llama-server").chmod(0o755)
    info = {"sha256": hashlib.sha256(recorded).hexdigest()}
    (directory / "build-info.json").write_text(json.dumps(info))
    # The record of a build, beside the entry (see cache_trust).
    sums = {
        "llama-server": info["sha256"],
        "build-info.json": file_sha256(directory / "build-info.json"),
    }
    (root / f"{recipe.key}.sha256sums").write_text(format_sums(sums))
    return directory


def test_a_sound_cache_entry_is_found(tmp_path: Path) -> None:
    recipe = recipe_for("x86-64-v3")
    directory = _entry(tmp_path, recipe, b"binary", b"binary")
    entry = cached(recipe, tmp_path)
    assert entry is not None and entry.binary == directory / "llama-server"


def test_a_truncated_binary_is_never_taken(tmp_path: Path) -> None:
    recipe = recipe_for("x86-64-v3")
    _entry(tmp_path, recipe, b"bina", b"binary")
    assert cached(recipe, tmp_path) is None


def test_an_entry_without_its_record_is_never_taken(tmp_path: Path) -> None:
    recipe = recipe_for("x86-64-v3")
    _entry(tmp_path, recipe, b"binary", b"binary")
    (tmp_path / f"{recipe.key}.sha256sums").unlink()
    assert cached(recipe, tmp_path) is None


def test_a_second_build_waits_for_the_first_and_takes_its_result(tmp_path: Path) -> None:
    import threading

    recipe = recipe_for("x86-64-v3")
    result: list[object] = []
    with cache.locked(tmp_path / f"{recipe.key}.lock"):  # the first build
        waiter = threading.Thread(
            target=lambda: result.append(build(recipe, root=tmp_path)), daemon=True
        )
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive()  # blocked on the lock, not building beside it
        _entry(tmp_path, recipe, b"binary", b"binary")  # what the first build leaves
    waiter.join(60)
    assert not waiter.is_alive()
    assert [entry.binary for entry in result] == [tmp_path / recipe.key / "llama-server"]  # type: ignore[attr-defined]


def test_a_build_that_fails_leaves_no_entry_and_keeps_its_log(tmp_path: Path) -> None:
    # A version PyPI does not have: the real download step fails quickly.
    recipe = BuildRecipe("0.0.0.1", "x86-64-v3", recipe_for().flags, "test")
    lines: list[str] = []
    with pytest.raises(BuildError, match=r"downloading the llama\.cpp source failed") as caught:
        build(recipe, root=tmp_path, progress=lines.append)
    assert lines and lines[0].startswith("downloading the llama.cpp source")
    assert cached(recipe, tmp_path) is None
    assert caught.value.log is not None and caught.value.log.is_file()
    # Nothing half-done is left under the cache: no entry, no work directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{recipe.key}.lock", f"{recipe.key}.log"]
    )


def test_a_build_without_cmake_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BuildError, match="apt-get install cmake g"):
        build(recipe_for(), root=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(
    os.environ.get("RAMALAMA_SDK_TEST_BUILD") != "1",
    reason="compiles llama.cpp (about 10 min on 2 cores); set RAMALAMA_SDK_TEST_BUILD=1. "
    "`make install` on an empty cache runs the same build for real",
)
def test_a_build_from_an_empty_cache_serves(tmp_path: Path, quantized_model: Path) -> None:
    lines: list[str] = []
    entry = build(recipe_for(), root=tmp_path, progress=lines.append)
    probe(entry.binary, quantized_model)
    assert any(line.startswith("compiling: ") for line in lines)
