"""Runtimes and deployment files, on the real ramalama CLI (no engine runs here).

The argv per runtime is pure and checked as such, then against ramalama's own
parser (``--dryrun`` prints the server command it would run). Generating
deployment files needs no running engine, so every kind is written for real
and parsed back.
"""

from __future__ import annotations

import subprocess
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from conftest import server_processes, wait_gone
from ramalama_sdk import GenerateError, GenerateTimeoutError, ModelNotFoundError, RamalamaError
from ramalama_sdk.commands import Mode, serve_argv
from ramalama_sdk.deploy import (
    LocalModelWarning,
    NoKeyWarning,
    deployment_name,
    generate,
    local_model_paths,
)
from ramalama_sdk.options import RUNTIMES, ModelOptions
from ramalama_sdk.process import engine
from ramalama_sdk.process.server import health_path

HOST = Mode(container=False)
PODMAN = Mode(container=True, engine="podman")
EVERY_OPTION: dict[str, Any] = {
    "temp": 0,
    "ngl": 0,
    "max_tokens": 7,
    "ctx_size": 512,
    "threads": 2,
}


def argv_for(runtime: str, mode: Mode = HOST, model: str = "m", **options: Any) -> list[str]:
    opts = ModelOptions(model=model, runtime=runtime, **{**EVERY_OPTION, **options})  # type: ignore[arg-type]
    return serve_argv("ramalama", opts, mode, port=9000, cpu_count=4, name="n", api_key_env="K")


def flags(argv: list[str]) -> list[str]:
    """The ``--flags`` of the serve part, before the model."""
    head = argv[argv.index("serve") + 1 : argv.index("--")]
    return [arg for arg in head if arg.startswith("--")]


def flag(argv: list[str], name: str) -> str | None:
    head = argv[: argv.index("--")]
    return head[head.index(name) + 1] if name in head else None


# -- argv per runtime (pure) ----------------------------------------------


def test_llama_cpp_is_the_default_and_takes_every_option() -> None:
    argv = argv_for("llama.cpp")
    assert "--runtime" not in argv
    assert flags(argv) == [
        "--port",
        "--host",
        "--webui",
        "--temp",
        "--ngl",
        "--max-tokens",
        "--ctx-size",
        "--threads",
    ]


def test_vllm_gets_only_the_options_it_takes() -> None:
    argv = argv_for("vllm")
    assert argv[:4] == ["ramalama", "--nocontainer", "--runtime", "vllm"]
    assert argv[4] == "serve"
    # ramalama's vllm parser rejects --temp/--ngl/--threads/--webui and its
    # command drops --max-tokens; --ctx-size becomes --max-model-len.
    assert flags(argv) == ["--port", "--host", "--ctx-size"]
    assert flag(argv, "--ctx-size") == "512"


def test_vllm_in_a_container_keeps_the_container_options() -> None:
    argv = argv_for("vllm", PODMAN, base_image="img")
    assert argv[:6] == ["ramalama", "--container", "--engine", "podman", "--runtime", "vllm"]
    assert flags(argv) == ["--port", "--host", "--name", "--image", "--env", "--ctx-size"]


def test_mlx_runs_on_the_host_with_temp_and_max_tokens() -> None:
    for mode in (HOST, PODMAN):
        argv = argv_for("mlx", mode, base_image="img")
        assert argv[:4] == ["ramalama", "--nocontainer", "--runtime", "mlx"]
        assert flags(argv) == ["--port", "--host", "--temp", "--max-tokens"]
        assert flag(argv, "--temp") == "0"
        assert flag(argv, "--max-tokens") == "7"


def test_threads_default_follows_the_runtime() -> None:
    assert flag(argv_for("llama.cpp", threads=-1), "--threads") == "4"
    assert flag(argv_for("vllm", threads=-1), "--threads") is None
    assert flag(argv_for("mlx", threads=-1), "--threads") is None


def test_generate_is_for_container_mode_only() -> None:
    opts = ModelOptions(model="m")
    argv = serve_argv("r", opts, PODMAN, port=1, cpu_count=1, name="n", generate="kube")
    assert flag(argv, "--generate") == "kube"
    with pytest.raises(ValueError, match="container mode only"):
        serve_argv("r", opts, HOST, port=1, cpu_count=1, generate="kube")


@pytest.mark.parametrize(
    ("runtime", "present", "absent"),
    [
        (
            "llama.cpp",
            ["llama-server ", "--ctx-size 512", "--temp 0", "--threads 2", "-n 7", "-ngl 0"],
            [],
        ),
        (
            "vllm",
            ["vllm.entrypoints.openai.api_server", "--max-model-len 512", "--port 9000"],
            ["--temp", "--threads", "-ngl", "-n 7", "--max-tokens"],
        ),
    ],
)
def test_ramalama_accepts_the_argv_of_each_runtime(
    runtime: str, present: list[str], absent: list[str], model_uri: str
) -> None:
    argv = argv_for(runtime, model=model_uri)
    argv.insert(1, "--dryrun")  # prints the server command instead of running it
    done = subprocess.run(
        argv, env=engine.child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for words in present:
        assert words in done.stdout
    for words in absent:
        assert words not in done.stdout


def test_ramalama_parses_the_mlx_argv(model_uri: str) -> None:
    argv = argv_for("mlx", model=model_uri)
    argv.insert(1, "--dryrun")
    done = subprocess.run(
        argv, env=engine.child_env(), capture_output=True, text=True, timeout=60, check=False
    )
    # Parsed; then refused off Apple Silicon (the only place mlx runs).
    assert "unrecognized arguments" not in done.stderr
    assert done.returncode == 0 or "Apple Silicon" in done.stderr


def test_runtime_option_is_checked() -> None:
    assert ModelOptions(model="m").runtime == "llama.cpp"
    with pytest.raises(ValueError, match="runtime must be one of"):
        ModelOptions(model="m", runtime="tgi")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ModelOptions(model="m", runtime=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host only"):
        ModelOptions(model="m", runtime="mlx", container=True)
    assert ModelOptions(model="m", runtime="mlx", container=False).runtime == "mlx"


def test_readiness_path_per_runtime() -> None:
    assert {runtime: health_path(runtime) for runtime in RUNTIMES} == {
        "llama.cpp": "/health",
        "vllm": "/health",
        "mlx": "/health",
    }


# -- generated files (real ramalama) ---------------------------------------


def model_options(model_uri: str, **options: Any) -> ModelOptions:
    return ModelOptions(model=model_uri, **options)


def quadlet_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd/quadlet unit: section -> key -> values (keys repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def container_of(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def test_kube_manifest_carries_the_options(
    model_uri: str, model_file: Path, tmp_path: Path
) -> None:
    options = model_options(
        model_uri, port=8123, base_image="quay.io/example/server:1", temp=0, ctx_size=512
    )
    with pytest.warns(LocalModelWarning, match="oci://"):
        files = generate(options, "kube", tmp_path)
    assert files == [tmp_path / "tiny-llama.yaml"]
    (manifest,) = yaml.safe_load_all(files[0].read_text())
    assert manifest["kind"] == "Deployment"
    assert manifest["metadata"]["name"] == "tiny-llama"
    container = container_of(manifest)
    assert container["image"] == "quay.io/example/server:1"
    args = container["args"]
    assert args[args.index("--port") + 1] == "8123"
    assert args[args.index("--ctx-size") + 1] == "512"
    assert float(args[args.index("--temp") + 1]) == 0
    assert "--no-webui" in args
    assert args[args.index("--model") + 1] == f"/mnt/models/{model_file.name}"
    assert args[args.index("--alias") + 1] == str(model_file)
    # Published on the model's host (loopback), not on every interface.
    assert container["ports"] == [{"containerPort": 8123, "hostIP": "127.0.0.1", "hostPort": 8123}]
    # A file:// model is mounted from this machine's store: what the warning says.
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
    assert local_model_paths(files[0].read_text()) == [volumes["model"]["hostPath"]["path"]]


def test_kube_manifest_for_vllm(model_uri: str, tmp_path: Path) -> None:
    options = model_options(model_uri, port=8200, runtime="vllm", ctx_size=1024, temp=0.2)
    with pytest.warns(LocalModelWarning):
        (path,) = generate(options, "kube", tmp_path, name="tiny-vllm")
    (manifest,) = yaml.safe_load_all(path.read_text())
    container = container_of(manifest)
    assert "vllm" in container["image"]
    args = container["args"]
    assert args[args.index("--max-model-len") + 1] == "1024"
    assert args[args.index("--port") + 1] == "8200"
    assert "--temp" not in args


def test_quadlet_unit_carries_the_options(model_uri: str, tmp_path: Path) -> None:
    options = model_options(model_uri, port=8124, host="0.0.0.0", base_image="img.example/s:2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the unit runs on this machine
        files = generate(options, "quadlet", tmp_path, name="tiny")
    assert files == [tmp_path / "tiny.container", tmp_path / "tiny.env"]
    unit = quadlet_sections(files[0])
    container = unit["Container"]
    assert container["Image"] == ["img.example/s:2"]
    assert container["ContainerName"] == ["tiny"]
    assert container["PublishPort"] == ["0.0.0.0:8124:8124"]
    assert container["EnvironmentFile"] == ["tiny.env"]  # the key
    exec_words = container["Exec"][0].split()
    assert exec_words[exec_words.index("--port") + 1] == "8124"
    assert any("target=/mnt/models/tiny-llama.gguf" in m for m in container["Mount"])
    assert "Install" in unit


@pytest.mark.parametrize("kind", ["kube/quadlet", "quadlet/kube"])
def test_kube_quadlet_writes_the_manifest_and_its_unit(
    kind: str, model_uri: str, tmp_path: Path
) -> None:
    files = generate(model_options(model_uri, port=8125), kind, tmp_path)
    assert sorted(p.name for p in files) == ["tiny-llama.kube", "tiny-llama.yaml"]
    unit = quadlet_sections(tmp_path / "tiny-llama.kube")
    assert unit["Kube"]["Yaml"] == ["tiny-llama.yaml"]
    assert unit["Kube"]["PublishPort"] == ["127.0.0.1:8125:8125"]
    (manifest,) = yaml.safe_load_all((tmp_path / "tiny-llama.yaml").read_text())
    ports = container_of(manifest)["ports"]
    assert ports == [{"containerPort": 8125, "hostIP": "127.0.0.1", "hostPort": 8125}]


def test_compose_file_carries_the_options(model_uri: str, model_file: Path, tmp_path: Path) -> None:
    options = model_options(model_uri, port=8126, max_tokens=64, base_image="img.example/s:3")
    files = generate(options, "compose", tmp_path)
    assert files == [tmp_path / "docker-compose.yaml", tmp_path / "tiny-llama.env"]
    compose = yaml.safe_load(files[0].read_text())
    (service,) = compose["services"].values()
    assert service["container_name"] == "tiny-llama"
    assert service["image"] == "img.example/s:3"
    assert service["ports"] == ["127.0.0.1:8126:8126"]  # the model's host: loopback
    command = service["command"]  # a list: ramalama's line is not valid YAML
    assert command[0] == "llama-server" and command[command.index("--host") + 1] == "::"
    assert command[command.index("--port") + 1] == "8126"
    assert command[command.index("-n") + 1] == "64"
    assert any(v.endswith(f":/mnt/models/{model_file.name}:ro") for v in service["volumes"])
    assert service["env_file"] == ["tiny-llama.env"]


def test_without_a_port_the_deployment_uses_8080(model_uri: str, tmp_path: Path) -> None:
    path, _ = generate(model_options(model_uri), "compose", tmp_path)
    (service,) = yaml.safe_load(path.read_text())["services"].values()
    assert service["ports"] == ["127.0.0.1:8080:8080"]


def test_only_the_files_written_are_returned(model_uri: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    options = model_options(model_uri, port=8127, api_key=False)
    first = generate(options, "compose", tmp_path / "new" / "dir")
    assert first == [tmp_path / "new" / "dir" / "docker-compose.yaml"]
    (tmp_path / "other.yaml").write_text("mine")
    again = generate(model_options(model_uri, port=8128, api_key=False), "compose", tmp_path)
    assert again == [tmp_path / "docker-compose.yaml"]  # not notes.txt nor other.yaml
    assert "8128" in again[0].read_text()


@pytest.mark.parametrize(
    ("kind", "options", "kwargs", "error"),
    [
        ("helm", {}, {}, ValueError),
        ("Kube", {}, {}, ValueError),
        ("", {}, {}, ValueError),
        (None, {}, {}, TypeError),
        ("kube", {"runtime": "mlx"}, {}, ValueError),
        ("kube", {}, {"name": "Not A Name"}, ValueError),
        ("kube", {}, {"timeout": 0}, ValueError),
    ],
)
def test_bad_arguments_fail_before_anything_runs(
    kind: Any,
    options: dict[str, Any],
    kwargs: dict[str, Any],
    error: type[Exception],
    model_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[object] = []

    def no_process(*args: object, **kw: object) -> None:
        started.append(args)
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    target = tmp_path / "out"
    with pytest.raises(error):
        generate(model_options(model_uri, **options), kind, target, **kwargs)
    assert started == []
    assert not target.exists()


def test_a_missing_model_is_model_not_found(tmp_path: Path) -> None:
    missing = (tmp_path / "nope.gguf").as_uri()
    with pytest.raises(ModelNotFoundError) as caught:
        generate(ModelOptions(model=missing), "kube", tmp_path / "out")
    assert "No such file" in caught.value.output
    assert not (tmp_path / "out").exists()


def test_a_file_that_cannot_be_written_is_a_generate_error(model_uri: str, tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yaml").mkdir()  # in the way of the compose file
    with pytest.raises(GenerateError) as caught:
        generate(model_options(model_uri), "compose", tmp_path)
    error = caught.value
    assert isinstance(error, RamalamaError) and isinstance(error, RuntimeError)
    assert "Is a directory" in str(error) and str(tmp_path) in str(error)
    assert error.command[-1] == model_uri
    # Nothing half-written is left: no key file, no temporary file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docker-compose.yaml"]


def test_a_slow_ramalama_is_stopped_at_the_timeout(model_uri: str, tmp_path: Path) -> None:
    with pytest.raises(GenerateTimeoutError) as caught:
        generate(model_options(model_uri), "kube", tmp_path, timeout=0.01)
    assert isinstance(caught.value, TimeoutError)
    assert wait_gone(server_processes(), timeout=5) == []


def test_deployment_names_are_kubernetes_names() -> None:
    for model in ["tinyllama", "hf://a/B_C.D", "oci://r.io/x/y:1", "file:///x/9.gguf", "a" * 99]:
        name = deployment_name(model)
        assert 0 < len(name) <= 63
        assert name[0].isalpha() and name[-1].isalnum()
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_the_model_classes_generate(model_uri: str, tmp_path: Path) -> None:
    from ramalama_sdk import AsyncRamalamaModel, RamalamaModel

    model = RamalamaModel(model=model_uri, port=8123, ctx_size=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LocalModelWarning)
        (path,) = model.generate("kube", tmp_path / "sync")
        compose = __import__("asyncio").run(
            AsyncRamalamaModel(model=model_uri, port=8124).generate("compose", tmp_path / "async")
        )
    manifest = yaml.safe_load(path.read_text())
    assert manifest["kind"] == "Deployment"
    assert "8123" in path.read_text() and "1024" in path.read_text()
    assert [p.name for p in compose] == ["docker-compose.yaml", "tiny-llama.env"]
    assert "8124" in compose[0].read_text()
    assert not model.is_running and server_processes() == []
    with pytest.raises(ValueError, match="kind"):
        model.generate("helm", tmp_path)


def test_deploy_kube_example(model_uri: str, tmp_path: Path) -> None:
    import sys

    example = Path(__file__).resolve().parent.parent / "examples" / "deploy_kube.py"
    done = subprocess.run(
        [sys.executable, str(example), model_uri, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = list(tmp_path.glob("*.yaml"))
    assert len(written) == 1 and written[0].name in done.stdout
    assert "kind: Deployment" in done.stdout


def test_runtime_args_reach_the_deployment(model_uri: str, tmp_path: Path) -> None:
    options = ModelOptions(model=model_uri, runtime_args=["--parallel", "4"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LocalModelWarning)
        (path,) = generate(options, "kube", tmp_path)
    text = path.read_text()
    assert "--parallel" in text and "4" in text.split("--parallel", 1)[1][:20]


# -- what the files expose: the host and the key ----------------------------


def env_lines(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    ("runtime", "key_env"), [("llama.cpp", "LLAMA_API_KEY"), ("vllm", "VLLM_API_KEY")]
)
def test_the_key_reaches_every_file_readable_by_its_owner_only(
    runtime: str, key_env: str, model_uri: str, tmp_path: Path
) -> None:
    options = model_options(model_uri, port=8130, api_key="k-0123456789", runtime=runtime)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LocalModelWarning)
        (manifest_path,) = generate(options, "kube", tmp_path / "kube", name="m")
        unit_path, unit_env = generate(options, "quadlet", tmp_path / "quadlet", name="m")
        kube_paths = generate(options, "kube/quadlet", tmp_path / "kq", name="m")
        compose_path, compose_env = generate(options, "compose", tmp_path / "compose", name="m")
    (manifest,) = yaml.safe_load_all(manifest_path.read_text())
    assert {"name": key_env, "value": "k-0123456789"} in container_of(manifest)["env"]
    assert mode_of(manifest_path) == 0o600
    assert quadlet_sections(unit_path)["Container"]["EnvironmentFile"] == ["m.env"]
    assert unit_env == tmp_path / "quadlet" / "m.env"
    (service,) = yaml.safe_load(compose_path.read_text())["services"].values()
    assert service["env_file"] == ["m.env"]
    assert "--port" in service["command"] and "" not in service["command"]  # vLLM's starts ''
    for key_file in (unit_env, compose_env):
        assert env_lines(key_file) == {key_env: "k-0123456789"}
        assert mode_of(key_file) == 0o600
    # The key is only where it is needed: the units and compose file name its file.
    for path in (unit_path, compose_path, *[p for p in kube_paths if p.suffix == ".kube"]):
        assert "k-0123456789" not in path.read_text()
    (kube_manifest,) = [p for p in kube_paths if p.suffix == ".yaml"]
    assert mode_of(kube_manifest) == 0o600 and "k-0123456789" in kube_manifest.read_text()


def test_without_an_api_key_each_deployment_gets_a_new_one(model_uri: str, tmp_path: Path) -> None:
    options = model_options(model_uri, port=8131)
    _, first = generate(options, "compose", tmp_path / "a")
    _, second = generate(options, "compose", tmp_path / "b")
    keys = [env_lines(path)["LLAMA_API_KEY"] for path in (first, second)]
    assert keys[0] != keys[1] and all(len(key) >= 32 for key in keys)


def test_api_key_false_writes_no_key_and_warns_off_loopback(model_uri: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on loopback: no warning
        (path,) = generate(model_options(model_uri, api_key=False), "quadlet", tmp_path / "a")
    assert "EnvironmentFile" not in quadlet_sections(path)["Container"]
    options = model_options(model_uri, api_key=False, host="0.0.0.0")
    assert __import__("ramalama_sdk").NoKeyWarning is NoKeyWarning  # public
    with pytest.warns(NoKeyWarning, match="without an API key"):
        files = generate(options, "compose", tmp_path / "b")
    assert [p.name for p in files] == ["docker-compose.yaml"]
    (service,) = yaml.safe_load(files[0].read_text())["services"].values()
    assert "env_file" not in service


@pytest.mark.parametrize("host", ["0.0.0.0", "::1"])
def test_the_kube_files_publish_on_the_models_host(
    host: str, model_uri: str, tmp_path: Path
) -> None:
    files = generate(model_options(model_uri, port=8132, host=host), "kube/quadlet", tmp_path)
    (manifest,) = yaml.safe_load_all((tmp_path / "tiny-llama.yaml").read_text())
    assert container_of(manifest)["ports"][0]["hostIP"] == host
    address = f"[{host}]" if ":" in host else host
    unit = quadlet_sections(tmp_path / "tiny-llama.kube")
    assert unit["Kube"]["PublishPort"] == [f"{address}:8132:8132"]
    assert len(files) == 2


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("kube", {"host": "localhost"}, "IP address"),
        ("kube/quadlet", {"host": "my-box"}, "IP address"),
        ("compose", {"api_key": "has space"}, "letters, digits"),
        ("quadlet", {"api_key": "a$b"}, "letters, digits"),
    ],
)
def test_what_the_files_cannot_say_fails_before_anything_runs(
    kind: str, options: dict[str, Any], match: str, model_uri: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=match):
        generate(model_options(model_uri, **options), kind, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_compose_for_an_image_model_names_the_docker_daemon(tmp_path: Path) -> None:
    if engine.engine_answers("docker"):
        pytest.skip("docker answers here: ramalama's image lookup really runs")
    model = "oci://localhost/ramalama-sdk-no-such-model:1"
    with pytest.raises(GenerateError) as caught:
        generate(ModelOptions(model=model), "compose", tmp_path)
    assert not isinstance(caught.value, ModelNotFoundError)
    assert "docker does not answer" in str(caught.value)
    assert "does not exist" in caught.value.output  # what ramalama said


# -- generate() touches its own files only (red-team round 2, item 8) ------


class Scribbler:
    """Another program writing in the output folder while generate() runs: a
    log it appends to (with a line that looks like a compose ``command:``)
    and a binary file it rewrites."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "app.log"
        self.blob = folder / "cache.bin"
        self.log.write_text("start\n    command: serve --port 1\n")
        self.blob.write_bytes(b"\xff\xfe\x00")
        self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            with self.log.open("a") as handle:
                handle.write(f"line {self.lines}\n")
            self.blob.write_bytes(bytes([0xFF, self.lines % 256, 0x80]))
            self.lines += 1

    def __enter__(self) -> Scribbler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def log_is_its_own(self) -> bool:
        expected = "start\n    command: serve --port 1\n"
        expected += "".join(f"line {n}\n" for n in range(self.lines))
        return self.log.read_text() == expected


def test_files_changed_by_another_program_meanwhile_are_not_reported_nor_rewritten(
    model_uri: str, tmp_path: Path
) -> None:
    with Scribbler(tmp_path) as other:
        files = generate(model_options(model_uri, port=8133), "compose", tmp_path)
    assert other.lines > 0  # it did write while ramalama ran
    assert files == [tmp_path / "docker-compose.yaml", tmp_path / "tiny-llama.env"]
    assert other.log_is_its_own()  # not "quoted" as a compose file
    assert other.blob.read_bytes()[0] == 0xFF
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "app.log",
        "cache.bin",
        "docker-compose.yaml",
        "tiny-llama.env",
    ]


@pytest.mark.parametrize(
    ("kind", "planted"),
    [
        ("compose", "docker-compose.yaml"),
        ("compose", "tiny-llama.env"),
        ("kube", "tiny-llama.yaml"),
        ("kube/quadlet", "tiny-llama.kube"),
    ],
)
def test_a_link_planted_under_an_output_name_is_replaced_not_followed(
    kind: str, planted: str, model_uri: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    (out / planted).symlink_to(victim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LocalModelWarning)
        files = generate(model_options(model_uri, port=8134), kind, out)
    assert victim.read_text() == "precious\n" and mode_of(victim) == 0o644
    assert out / planted in files
    assert not (out / planted).is_symlink() and (out / planted).stat().st_size > 0
