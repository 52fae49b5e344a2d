"""The llama-server build cache never runs what someone else could have put there.

Pattern protected: a shared or restored cache folder (a CI cache, a home on
a multi-user machine) holds a planted or swapped llama-server, and the next
``setup`` runs it. Each test plants the entry on the real file system (other
owners with ``chown``, which needs root: those tests say so when they skip)
and runs the real ``find_or_build``: the entry is refused, replaced by a new
build, and the new binary serves the probe.

A real build takes 10 minutes, so where an entry must be replaced the build
steps (download, compile) are stood in for by a copy of this run's real
llama-server; everything around them (the checks, the replacement, the
record, the probe) is the real code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from ramalama_sdk.stack import cache_trust, server_binary, server_build
from ramalama_sdk.stack.cache import file_sha256, locked
from ramalama_sdk.stack.server_binary import ProbeError, find_or_build
from ramalama_sdk.stack.server_build import BuildError, build, cached, recipe_for

NOBODY = 65534
needs_root = pytest.mark.skipif(
    os.getuid() != 0, reason="giving a file to another user (chown) needs root"
)


@pytest.fixture(scope="module")
def real_binary() -> Path:
    """This run's llama-server, proven on this CPU (see conftest)."""
    import conftest

    assert conftest._SERVER is not None
    return conftest._SERVER.path.resolve()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of this test's own, used by ``setup`` as it runs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(server_binary.FORCE_BUILD_ENV, "1")
    return tmp_path / "xdg" / "ramalama-sdk" / "llama-server"


@dataclasses.dataclass
class StandInBuilds:
    made: list[Path] = dataclasses.field(default_factory=list)
    # What the next builds produce, in order; the real binary once this is empty.
    queue: list[Path] = dataclasses.field(default_factory=list)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch, real_binary: Path) -> StandInBuilds:
    """Stand-in for the 10-minute download and compile: a copy of the real binary."""
    stand_in = StandInBuilds()

    def fetch_source(recipe: object, work: Path, *args: object) -> Path:
        return work

    def compile_llama_server(recipe: object, source: Path, build_dir: Path, *args: object) -> Path:
        build_dir.mkdir(parents=True)
        binary = build_dir / "llama-server"
        shutil.copyfile(stand_in.queue.pop(0) if stand_in.queue else real_binary, binary)
        binary.chmod(0o775)
        stand_in.made.append(binary)
        return binary

    monkeypatch.setattr(server_build, "fetch_source", fetch_source)
    monkeypatch.setattr(server_build, "compile_llama_server", compile_llama_server)
    return stand_in


def _dies_loading(directory: Path) -> Path:
    """Stand-in for a binary built for another CPU (see test_server_setup.py)."""
    script = directory / "dies-loading"
    script.write_text("#!/bin/sh\necho 'AMX is not ready to be used!' >&2\nexit 252\n")
    script.chmod(0o755)
    return script


def _sound_entry(cache: Path, binary: Path) -> Path:
    """An entry made the way a build makes one, holding ``binary``."""
    recipe = recipe_for()
    cache.mkdir(parents=True, exist_ok=True)
    work = cache / f".{recipe.key}.testwork"
    work.mkdir()
    server_build._install(cache, recipe, binary, work, 0.0)
    shutil.rmtree(work)
    assert cached(recipe, cache) is not None
    return cache / recipe.key


def _served_by_a_new_build(cache: Path, real_binary: Path, lines: list[str]) -> None:
    found = find_or_build(progress=lines.append)
    entry = cached(recipe_for(), cache)
    assert entry is not None and found.path == entry.binary
    assert file_sha256(found.path) == file_sha256(real_binary)
    assert found.path.stat().st_uid == os.getuid()


@needs_root
def test_an_entry_owned_by_another_user_is_refused_and_replaced(
    cache: Path, builds: StandInBuilds, real_binary: Path, tmp_path: Path
) -> None:
    entry = _sound_entry(cache, _dies_loading(tmp_path))
    os.chown(entry / "llama-server", NOBODY, NOBODY)
    lines: list[str] = []
    _served_by_a_new_build(cache, real_binary, lines)
    assert any("owned by uid 65534" in line for line in lines), lines
    assert len(builds.made) == 1


@pytest.mark.parametrize("what", ["binary", "entry"])
def test_an_entry_writable_by_others_is_refused_and_replaced(
    what: str, cache: Path, builds: StandInBuilds, real_binary: Path, tmp_path: Path
) -> None:
    entry = _sound_entry(cache, _dies_loading(tmp_path))
    path = entry / "llama-server" if what == "binary" else entry
    path.chmod(path.stat().st_mode | 0o002)
    lines: list[str] = []
    _served_by_a_new_build(cache, real_binary, lines)
    assert any(f"{path} is writable by everyone" in line for line in lines), lines


@needs_root
def test_an_entry_writable_by_a_shared_group_is_refused(cache: Path, tmp_path: Path) -> None:
    entry = _sound_entry(cache, _dies_loading(tmp_path))
    os.chown(entry, -1, 50)  # "staff": not this user's private group
    entry.chmod(0o775)
    reason = server_build.entry_problem(recipe_for(), cache)
    assert reason == f"{entry} is writable by its group"


def test_a_binary_swapped_with_its_build_info_is_refused_and_replaced(
    cache: Path, builds: StandInBuilds, real_binary: Path, tmp_path: Path
) -> None:
    # The digest inside the entry is swapped along with the binary; the
    # record outside it is not.
    entry = _sound_entry(cache, real_binary)
    planted = _dies_loading(tmp_path)
    shutil.copyfile(planted, entry / "llama-server")
    info = json.loads((entry / "build-info.json").read_text())
    info["sha256"] = file_sha256(planted)
    (entry / "build-info.json").write_text(json.dumps(info))
    lines: list[str] = []
    _served_by_a_new_build(cache, real_binary, lines)
    assert any("does not match its recorded sha256" in line for line in lines), lines


def test_a_library_planted_beside_the_binary_is_refused(cache: Path, real_binary: Path) -> None:
    # ggml loads backend libraries found beside the binary.
    entry = _sound_entry(cache, real_binary)
    (entry / "libggml-cpu-evil.so").write_bytes(b"\x7fELF")
    reason = server_build.entry_problem(recipe_for(), cache)
    assert reason is not None and "extra: ['libggml-cpu-evil.so']" in reason
    assert cached(recipe_for(), cache) is None


def test_a_binary_that_is_a_link_is_refused(cache: Path, real_binary: Path, tmp_path: Path) -> None:
    entry = _sound_entry(cache, real_binary)
    # Same content, so the digest matches: the link could be retargeted later.
    outside = tmp_path / "outside"
    shutil.copyfile(real_binary, outside)
    (entry / "llama-server").unlink()
    (entry / "llama-server").symlink_to(outside)
    assert server_build.entry_problem(recipe_for(), cache) == (
        f"{entry / 'llama-server'} is a symbolic link"
    )


def test_an_entry_that_fails_the_probe_is_replaced(
    cache: Path, builds: StandInBuilds, real_binary: Path, tmp_path: Path
) -> None:
    # Sound by every check (ours, recorded), but it cannot serve on this CPU.
    _sound_entry(cache, _dies_loading(tmp_path))
    lines: list[str] = []
    _served_by_a_new_build(cache, real_binary, lines)
    assert any("failed the probe, replacing it" in line and "252" in line for line in lines)
    assert len(builds.made) == 1


def test_a_new_build_that_fails_the_probe_is_an_error(
    cache: Path, builds: StandInBuilds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = _dies_loading(tmp_path)
    builds.queue.append(failing)
    _sound_entry(cache, failing)
    with pytest.raises(ProbeError, match="code 252"):
        find_or_build()
    assert len(builds.made) == 1  # replaced once, then the new build's failure is final


def test_a_cache_writable_by_others_is_never_used(
    cache: Path, builds: StandInBuilds, real_binary: Path
) -> None:
    _sound_entry(cache, real_binary)
    cache.chmod(0o777)
    assert cached(recipe_for(), cache) is None
    with pytest.raises(BuildError, match=r"not safe to run programs from: .* writable by everyone"):
        find_or_build()
    assert builds.made == []


def test_a_folder_above_the_cache_writable_by_others_is_refused(tmp_path: Path) -> None:
    above = tmp_path / "shared"
    root = above / "cache"
    root.mkdir(parents=True)
    above.chmod(0o777)  # not sticky: anyone could rename the cache away and plant one
    assert cache_trust.folder_problem(root) == f"{above} is writable by everyone"
    above.chmod(0o1777)  # sticky, as /tmp: others cannot rename what is ours
    assert cache_trust.folder_problem(root) is None


def test_stale_work_folders_go_unless_their_build_runs(tmp_path: Path) -> None:
    recipe = recipe_for()
    stale = tmp_path / f".{recipe.key}.abc_1234"
    stale.mkdir()
    with locked(tmp_path / f"{recipe.key}.lock"):  # that build is running
        assert server_build.remove_stale_work(tmp_path) == []
    assert server_build.remove_stale_work(tmp_path) == [stale]
    assert not stale.exists()


def test_a_build_in_an_empty_cache_makes_an_entry_for_this_user_only(
    cache: Path, builds: StandInBuilds
) -> None:
    old = os.umask(0o000)  # the build sets its modes itself
    try:
        entry = build(recipe_for(), root=cache)
    finally:
        os.umask(old)
    record = cache / f"{recipe_for().key}.sha256sums"
    for path in (entry.directory, entry.binary, entry.directory / "build-info.json", record):
        assert path.stat().st_mode & 0o022 == 0, path
    assert cache_trust.parse_sums(record.read_text()) == {
        "llama-server": file_sha256(entry.binary),
        "build-info.json": file_sha256(entry.directory / "build-info.json"),
    }
