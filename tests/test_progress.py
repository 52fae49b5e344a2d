"""Pull progress: parsing ramalama's real bar, and following a real pull."""

from __future__ import annotations

import http.server
import io
import shutil
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import server_processes
from ramalama_sdk import commands
from ramalama_sdk.process import engine
from ramalama_sdk.process.supervisor import LogFile, spawn, stop_group
from ramalama_sdk.store.management import list_models, remove
from ramalama_sdk.store.progress import (
    Progress,
    ProgressParser,
    PullMonitor,
    TqdmReporter,
    _in_kernel,
    default_reporter,
    strip_bar,
)

# What ramalama 0.25 wrote on stderr (stdout a pseudo-terminal) while pulling
# a 30.72 MB file over HTTP; segments from the start and the end.
REAL_WITH_LENGTH = (
    "Downloading big.gguf\n"
    "\r  1% |                            |  513.00 KB/  30.72 MB   4.97 MB/s        6s"
    "\r  3% |                            |    1.00 MB/  30.72 MB   4.96 MB/s        5s"
    "\r 99% |███████████████████████████ |   30.50 MB/  30.72 MB   4.97 MB/s        0s"
    "\r100% |████████████████████████████|   30.72 MB/  30.72 MB   5.00 MB/s        0s\n"
).encode()
MB = 1024 * 1024
EXPECTED_WITH_LENGTH = [
    Progress(513 * 1024, round(30.72 * MB)),
    Progress(MB, round(30.72 * MB)),
    Progress(round(30.50 * MB), round(30.72 * MB)),
    Progress(round(30.72 * MB), round(30.72 * MB)),
]

# The same from a server that sent no Content-Length: the total is 0.00 B.
REAL_WITHOUT_LENGTH = (
    "Downloading nolen.gguf\n"
    "\r100% |████████████████████████████|  513.00 KB/    0.00 B   4.98 MB/s   59m 59s"
    "\r100% |████████████████████████████|    3.00 MB/    0.00 B   4.97 MB/s   59m 59s\n"
).encode()

# A download cut off by the server, then ramalama's retries and its error.
REAL_FAILURE = (
    "\r 16% |████                        |    5.00 MB/  30.72 MB   4.99 MB/s        5s\n"
    "2026-11-27 03:53:25 - WARNING - ⚠️ I/O Error: Incomplete download: got 5242880 of "
    "32215072 bytes from the server. Retrying 1/5 ...\n"
    "2026-11-27 03:53:25 - ERROR - ❌ Network Error: [Errno 111] Connection refused\n"
    "Removing snapshot...\n"
    "Error: pulling http://127.0.0.1:18732/missing.gguf failed: HTTP Error 404\n"
).encode()


def _feed_bytes(data: bytes, chunk: int) -> list[Progress]:
    """Feed ``data`` in ``chunk``-byte pieces, as a log file grows."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    parser = ProgressParser()
    updates: list[Progress] = []
    for start in range(0, len(data), chunk):
        updates += parser.feed(decoder.decode(data[start : start + chunk]))
    return updates + parser.close()


def test_real_bar_gives_bytes_and_total() -> None:
    parser = ProgressParser()
    updates = parser.feed(REAL_WITH_LENGTH.decode()) + parser.close()
    assert updates == EXPECTED_WITH_LENGTH
    assert parser.file == "big.gguf"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_any_split_of_the_output_gives_the_same_updates(chunk: int) -> None:
    # Byte pieces cut through the 3-byte '█' and through the numbers.
    assert _feed_bytes(REAL_WITH_LENGTH, chunk) == EXPECTED_WITH_LENGTH


def test_a_segment_cut_short_is_not_reported() -> None:
    parser = ProgressParser()
    assert parser.feed("\r  3% |      |    1.00 MB/  30.7") == []
    assert parser.feed("2 MB   4.96 MB/s        5") == []
    # Whole now, though ramalama ends it only with the next update.
    assert parser.feed("s") == [Progress(MB, round(30.72 * MB))]
    assert parser.feed("\r") == []  # not reported twice


def test_unknown_total_is_none() -> None:
    updates = _feed_bytes(REAL_WITHOUT_LENGTH, 5)
    assert updates == [Progress(513 * 1024, None), Progress(3 * MB, None)]


def test_errors_and_warnings_are_not_progress() -> None:
    updates = _feed_bytes(REAL_FAILURE, 11)
    assert updates == [Progress(5 * MB, round(30.72 * MB))]
    lines = REAL_FAILURE.decode().splitlines()
    kept = strip_bar(lines)
    assert kept[-1].startswith("Error: pulling")
    assert not any("%" in line and "MB/s" in line for line in kept)


def test_each_file_counts_from_zero() -> None:
    second = REAL_WITH_LENGTH.replace(b"big.gguf", b"mmproj.gguf")
    parser = ProgressParser()
    updates = parser.feed((REAL_WITH_LENGTH + second).decode())
    assert updates == EXPECTED_WITH_LENGTH * 2
    assert parser.file == "mmproj.gguf"


def test_monitor_follows_a_growing_log(tmp_path: Path) -> None:
    log = tmp_path / "pull.log"
    seen: list[tuple[int, int | None]] = []
    monitor = PullMonitor(str(log), lambda done, total: seen.append((done, total)))
    monitor.poll()  # no file yet: nothing, no error
    with open(log, "wb") as out:
        for start in range(0, len(REAL_WITH_LENGTH), 50):
            out.write(REAL_WITH_LENGTH[start : start + 50])
            out.flush()
            monitor.poll()
    monitor.close()
    assert seen == [tuple(p) for p in EXPECTED_WITH_LENGTH]
    assert monitor.stdout is None  # the terminal is closed


def test_monitor_closes_a_callback_that_can_close(tmp_path: Path) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[int, int | None]] = []
            self.closed = 0

        def __call__(self, completed: int, total: int | None) -> None:
            self.calls.append((completed, total))

        def close(self) -> None:
            self.closed += 1

    (tmp_path / "pull.log").write_bytes(REAL_WITHOUT_LENGTH)
    recorder = Recorder()
    with PullMonitor(str(tmp_path / "pull.log"), recorder) as monitor:
        assert monitor.stdout is not None and monitor.stdout >= 0
    monitor.close()  # idempotent
    assert recorder.calls == [(513 * 1024, None), (3 * MB, None)]
    assert recorder.closed == 1


class _TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_reporter_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert default_reporter("m") is None


def test_terminal_reporter_draws_a_tqdm_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _TerminalStream()
    monkeypatch.setattr(sys, "stderr", stream)
    reporter = default_reporter("hf://org/model")
    assert isinstance(reporter, TqdmReporter)
    reporter(512, 2048)
    reporter(2048, 2048)
    reporter.close()
    drawn = stream.getvalue()
    assert "hf://org/model" in drawn
    assert "100%" in drawn and "2.00k/2.00k" in drawn


def test_reporter_starts_a_new_bar_for_the_next_file() -> None:
    bars: list[FakeBar] = []

    class FakeBar:
        """Records what a tqdm bar is told (tqdm itself is tested above)."""

        def __init__(self, *, total: int | None, **_: object) -> None:
            self.total = total
            self.n = 0
            self.closed = False
            bars.append(self)

        def update(self, n: int) -> None:
            self.n += n

        def close(self) -> None:
            self.closed = True

    reporter = TqdmReporter(FakeBar, "m")
    reporter(10, None)
    reporter(100, 100)
    reporter(5, 50)
    reporter.close()
    assert [(bar.n, bar.total, bar.closed) for bar in bars] == [(100, 100, True), (5, 50, True)]


def test_no_reporter_without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _TerminalStream())
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert default_reporter("m") is None


def test_kernel_is_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _in_kernel()
    # A stand-in for a running IPython kernel (none can run in this test).
    shell = types.SimpleNamespace(kernel=object())
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert _in_kernel()
    shell.kernel = None  # a terminal IPython: no kernel
    assert not _in_kernel()


# -- a real pull over loopback -------------------------------------------


class _SlowHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files at about 5 MB/s, so ramalama draws several updates."""

    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        while block := source.read(256 * 1024):
            outputfile.write(block)
            time.sleep(0.05)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served_model(model_file: Path, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A 3 MB GGUF (the tiny model, padded) on a loopback HTTP server."""
    root = tmp_path / "www"
    root.mkdir()
    target = root / "padded-tiny.gguf"
    shutil.copyfile(model_file, target)
    with open(target, "ab") as out:
        out.write(bytes(3 * MB - target.stat().st_size))
    size = target.stat().st_size

    def handler(*args: object) -> _SlowHandler:
        return _SlowHandler(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{target.name}", size
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_real_pull_reports_increasing_progress(served_model: tuple[str, int]) -> None:
    url, size = served_model
    store_name = "http://127.0.0.1/padded-tiny.gguf"  # ramalama drops the port
    remove(store_name, ignore=True)
    mode = engine.decide_mode(None)
    argv = commands.pull_argv(engine.find_ramalama(), url, mode)
    env = engine.child_env({"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    seen: list[tuple[int, int | None]] = []
    log = LogFile(prefix="test-pull-")
    monitor = PullMonitor(log.read_from, lambda done, total: seen.append((done, total)))
    try:
        stdout = monitor.stdout if monitor.stdout is not None else log.handle
        popen = spawn(argv, env=env, stdout=stdout, stderr=log.handle).result()
        monitor.child_started()
        try:
            while popen.poll() is None:
                monitor.poll()
                time.sleep(0.05)
        finally:
            if popen.poll() is None:
                stop_group(popen)
        monitor.close()
        assert popen.returncode == 0, log.tail(20)
    finally:
        monitor.close()
        log.close(keep=0)

    assert len(seen) >= 3, seen
    completed = [done for done, _ in seen]
    assert completed == sorted(completed) and len(set(completed)) == len(completed)
    last_done, last_total = seen[-1]
    assert last_total is not None and last_done == last_total
    # Two decimals of MB: within 0.005 MB of the real size.
    assert abs(last_total - size) <= 0.005 * MB
    assert all(total == last_total for _, total in seen)
    assert monitor.parser.file == "padded-tiny.gguf"

    assert any(info.name == store_name for info in list_models())
    remove(store_name)
    assert server_processes() == []


def test_download_reports_progress_to_a_callback(
    served_model: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public path: download(progress=...) on a real pull over HTTP."""
    from ramalama_sdk import RamalamaModel

    url, size = served_model
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    remove("http://127.0.0.1/padded-tiny.gguf", ignore=True)
    seen: list[tuple[int, int | None]] = []
    model = RamalamaModel(model=url)
    model.download(progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 3, seen
    completed = [done for done, _ in seen]
    assert completed == sorted(completed)
    assert seen[-1][0] == seen[-1][1] and abs(seen[-1][0] - size) <= 0.005 * MB
    # Already in the store: nothing is downloaded again, so nothing reported.
    seen.clear()
    model.download(progress=lambda done, total: seen.append((done, total)))
    assert seen == []
    # force=True downloads it again.
    model.download(force=True, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    remove("http://127.0.0.1/padded-tiny.gguf")


def test_download_without_a_terminal_is_silent(
    model_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from ramalama_sdk import RamalamaModel

    RamalamaModel(model=model_uri).download()  # progress left to its default
    out, err = capfd.readouterr()
    assert out == "" and err == ""
