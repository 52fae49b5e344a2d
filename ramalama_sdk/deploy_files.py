"""What ``generate()`` changes in the files ramalama writes (pure).

ramalama 0.25 writes deployment files that publish the server on every
interface of a Kubernetes node or podman host, carry no API key, and (for an
``oci://`` model) mount the model with an absolute ``subPath``, which
Kubernetes refuses. These functions take ramalama's text and return the text
to write:

- the kube manifest publishes the port on the model's ``host`` (``hostIP``
  and ``hostPort``), makes every ``subPath`` relative, and gives the server
  its key in its environment (``env``: podman 4.3's ``kube play`` cannot read
  a Kubernetes Secret through ``secretKeyRef``);
- the ``.kube`` unit publishes the port on ``host`` (``PublishPort=``);
- the ``.container`` unit and the compose file read the key from an
  environment file beside them (``EnvironmentFile=``, ``env_file:``);
- the compose ``command:`` becomes a list (ramalama writes it as invalid YAML).

A file that holds a key is written with mode 0600 (``KEY_MODE``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml  # type: ignore[import-untyped]

KEY_MODE = 0o600
"""The mode of a file that holds the server's API key: its owner's only."""

_WIDTH = 1 << 16  # long lines (a server command) stay on one line
_KEY = re.compile(r"[A-Za-z0-9._~+/=-]+")
_COMMAND = re.compile(r"^(?P<indent>    )command: (?P<value>.*\S)\s*$")
_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$")
_HOST_MODEL = re.compile(r"- hostPath:\s*\n\s*path:\s*(?P<path>\S+)\s*\n\s*name:\s*model\b")


@dataclass(frozen=True)
class Settings:
    """What the deployment files must say, beyond ramalama's output."""

    name: str
    host: str
    port: int
    key_env: str | None = None
    """The variable the server reads its key from (``LLAMA_API_KEY``)."""
    key: str | None = field(default=None, repr=False)  # never in a repr or a log

    @property
    def env_file(self) -> str:
        """The name of the environment file that holds the key."""
        return f"{self.name}.env"


@dataclass(frozen=True)
class File:
    """A file to write: its text, and whether it holds the key (mode 0600)."""

    text: str = field(repr=False)
    secret: bool = False


def deployment_key(api_key: str | bool | None) -> str | None:
    """The key a deployment's server checks: a new one unless told otherwise.

    ``None`` and ``True`` give a fresh random key (as ``serve()`` does),
    ``False`` none, a str that key. It goes into environment files, which
    their readers (podman, systemd, docker compose, python-dotenv) take
    differently when a value holds quotes, spaces, ``$`` or ``#``: such a
    key is refused.

    >>> deployment_key("k-1.x"), deployment_key(False), len(deployment_key(None) or "")
    ('k-1.x', None, 43)
    >>> deployment_key("a$b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a deployment's api_key may hold only letters, digits and ._~+/=- ...
    """
    if api_key is False:
        return None
    if api_key is None or api_key is True:
        return secrets.token_urlsafe(32)
    if not _KEY.fullmatch(api_key):
        raise ValueError(
            "a deployment's api_key may hold only letters, digits and ._~+/=- "
            "(environment files read other characters differently)"
        )
    return api_key


def publish_address(host: str) -> str:
    """``host`` as the address part of podman's ``--publish``.

    >>> publish_address("127.0.0.1"), publish_address("::1")
    ('127.0.0.1', '[::1]')
    """
    return f"[{host}]" if ":" in host else host


def check_kube_host(host: str) -> str:
    """``host`` as a manifest's ``hostIP``, which must be an IP address.

    >>> check_kube_host("localhost")
    Traceback (most recent call last):
    ...
    ValueError: a Kubernetes manifest publishes on an IP address (hostIP), not on 'localhost'
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"a Kubernetes manifest publishes on an IP address (hostIP), not on {host!r}"
        ) from None
    return host


def local_model_paths(manifest: str) -> list[str]:
    """Host paths a Kubernetes manifest of ramalama mounts as the model.

    ramalama mounts an OCI model as an image volume, which a cluster pulls,
    and any other model (``file://``, ``hf://``, a shortname) from its local
    store through ``hostPath``, which exists only on this machine.

    >>> local_model_paths('''
    ...       - hostPath:
    ...           path: /store/blobs/sha256-1
    ...         name: model
    ...       - image:
    ...           reference: quay.io/m:1
    ...         name: model-draft''')
    ['/store/blobs/sha256-1']
    """
    return [match.group("path") for match in _HOST_MODEL.finditer(manifest)]


def relative_subpath(path: str) -> str:
    """A ``subPath`` as Kubernetes takes it: relative to the volume.

    >>> relative_subpath("/models"), relative_subpath("models/x"), relative_subpath("/")
    ('models', 'models/x', '')
    """
    return path.lstrip("/")


def kube_manifest(text: str, settings: Settings) -> File:
    """ramalama's Kubernetes manifest, published on ``host``, with the key.

    >>> manifest = '''# made by ramalama
    ... kind: Deployment
    ... spec:
    ...   template:
    ...     spec:
    ...       containers:
    ...       - name: m
    ...         ports:
    ...         - containerPort: 8080
    ...         volumeMounts:
    ...         - mountPath: /mnt/models
    ...           subPath: /models
    ...           name: model'''
    >>> out = kube_manifest(manifest, Settings("m", "127.0.0.1", 8080, "LLAMA_API_KEY", "k"))
    >>> print(out.text, out.secret)  # doctest: +NORMALIZE_WHITESPACE
    # made by ramalama
    kind: Deployment
    spec:
      template:
        spec:
          containers:
          - name: m
            ports:
            - containerPort: 8080
              hostIP: 127.0.0.1
              hostPort: 8080
            volumeMounts:
            - mountPath: /mnt/models
              subPath: models
              name: model
            env:
            - name: LLAMA_API_KEY
              value: k
    True
    """
    check_kube_host(settings.host)
    documents = list(yaml.safe_load_all(text))
    for document in documents:
        for container in _pod_containers(document):
            _publish(container, settings)
            for mount in container.get("volumeMounts") or ():
                if isinstance(mount, dict) and isinstance(mount.get("subPath"), str):
                    relative = relative_subpath(mount["subPath"])
                    if relative:
                        mount["subPath"] = relative
                    else:
                        del mount["subPath"]
            if settings.key is not None and settings.key_env is not None:
                env = [
                    item
                    for item in container.get("env") or ()
                    if not (isinstance(item, dict) and item.get("name") == settings.key_env)
                ]
                env.append({"name": settings.key_env, "value": settings.key})
                container["env"] = env
    body = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, width=_WIDTH)
    return File(_leading_comments(text) + body, secret=settings.key is not None)


def _pod_containers(document: object) -> list[dict[str, Any]]:
    """The containers of a Deployment or a Pod document."""
    if not isinstance(document, dict):
        return []
    spec = document.get("spec")
    if document.get("kind") != "Pod" and isinstance(spec, dict):
        template = spec.get("template")
        spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return []
    containers = spec.get("containers")
    return [c for c in containers or () if isinstance(c, dict)]


def _publish(container: dict[str, Any], settings: Settings) -> None:
    for port in container.get("ports") or ():
        if isinstance(port, dict) and port.get("containerPort") == settings.port:
            port["hostIP"] = settings.host
            port["hostPort"] = settings.port


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line + "\n")
    return "".join(lines)


def add_to_section(text: str, section: str, lines: list[str]) -> str:
    """A systemd unit with ``lines`` at the end of ``[section]`` (made if missing).

    >>> print(add_to_section("[Kube]\\nYaml=m.yaml\\n\\n[Install]\\nX=1\\n", "Kube", ["P=1"]))
    [Kube]
    Yaml=m.yaml
    P=1
    <BLANKLINE>
    [Install]
    X=1
    <BLANKLINE>
    """
    rows = text.split("\n")
    start = next(
        (i for i, row in enumerate(rows) if (m := _SECTION.match(row)) and m["name"] == section),
        None,
    )
    if start is None:
        tail = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{tail}\n[{section}]\n" + "".join(f"{line}\n" for line in lines)
    end = next(
        (i for i in range(start + 1, len(rows)) if _SECTION.match(rows[i])),
        len(rows),
    )
    while end > start + 1 and not rows[end - 1].strip():
        end -= 1  # before the blank lines that end the section
    return "\n".join([*rows[:end], *lines, *rows[end:]])


def kube_unit(text: str, settings: Settings) -> File:
    """ramalama's ``.kube`` unit, publishing the port on ``host``.

    >>> print(kube_unit("[Kube]\\nYaml=m.yaml\\n", Settings("m", "::1", 8080)).text)
    [Kube]
    Yaml=m.yaml
    PublishPort=[::1]:8080:8080
    <BLANKLINE>
    """
    address = publish_address(settings.host)
    published = f"PublishPort={address}:{settings.port}:{settings.port}"
    return File(add_to_section(text, "Kube", [published]))


def container_unit(text: str, settings: Settings) -> File:
    """ramalama's ``.container`` unit, reading the key from the environment file.

    ramalama already publishes the port on ``host`` there.

    >>> print(container_unit("[Container]\\nImage=i\\n", Settings("m", "h", 1, "K", "k")).text)
    [Container]
    Image=i
    EnvironmentFile=m.env
    <BLANKLINE>
    """
    if settings.key is None:
        return File(text)
    return File(add_to_section(text, "Container", [f"EnvironmentFile={settings.env_file}"]))


def repair_compose_command(text: str) -> str:
    """A compose file whose ``command:`` YAML can read, as a list of arguments.

    ramalama 0.25 writes the server command as one bare shell-quoted line:
    its ``--host ::`` makes the file invalid YAML (``docker compose``
    refuses it), and for vLLM the line starts with ``''``, an empty first
    argument. The line is split as a shell would, without that empty
    argument, and written as a JSON list, which YAML reads as it is.

    >>> print(repair_compose_command("services:\\n  m:\\n    command: srv --host :: -p 1"))
    services:
      m:
        command: ["srv", "--host", "::", "-p", "1"]
    >>> repair_compose_command("    command: '' --model /m --host ::")
    '    command: ["--model", "/m", "--host", "::"]'
    """
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _COMMAND.match(line)
        if match and not match.group("value").startswith(("[", '"')):
            words = shlex.split(match.group("value"))
            while words and not words[0]:
                words.pop(0)
            lines[index] = f"{match.group('indent')}command: {json.dumps(words)}"
    return "\n".join(lines)


def compose_file(text: str, settings: Settings) -> File:
    """ramalama's compose file, valid YAML, its service reading the key file.

    >>> out = compose_file("services:\\n  m:\\n    command: s --host ::\\n",
    ...                    Settings("m", "h", 1, "K", "k"))
    >>> print(out.text)
    services:
      m:
        command:
        - s
        - --host
        - '::'
        env_file:
        - m.env
    <BLANKLINE>
    """
    compose = yaml.safe_load(repair_compose_command(text))
    services = compose.get("services") if isinstance(compose, dict) else None
    if settings.key is not None and isinstance(services, dict):
        for service in services.values():
            if isinstance(service, dict):
                files = service.get("env_file") or []
                files = [files] if isinstance(files, str) else list(files)
                if settings.env_file not in files:
                    files.append(settings.env_file)
                service["env_file"] = files
    body = yaml.safe_dump(compose, sort_keys=False, default_flow_style=False, width=_WIDTH)
    return File(_leading_comments(text) + body)


def env_file(settings: Settings) -> File:
    """The environment file that gives the server its key.

    >>> env_file(Settings("m", "h", 1, "LLAMA_API_KEY", "k")).text
    'LLAMA_API_KEY=k\\n'
    """
    assert settings.key is not None and settings.key_env is not None
    return File(f"{settings.key_env}={settings.key}\n", secret=True)


def rewrite(kind: str, files: Mapping[str, str], settings: Settings) -> dict[str, File]:
    """The files to write, by name, for ramalama's ``files`` of ``kind``.

    ``kind`` is ramalama's (``kube``, ``quadlet``, ``quadlet/kube``,
    ``compose``). An environment file holding the key is added where a unit
    or a compose file reads it.
    """
    out: dict[str, File] = {}
    for name, text in files.items():
        if name.endswith((".yaml", ".yml")) and kind != "compose":
            out[name] = kube_manifest(text, settings)
        elif name.endswith(".kube"):
            out[name] = kube_unit(text, settings)
        elif name.endswith(".container"):
            out[name] = container_unit(text, settings)
        elif kind == "compose":
            out[name] = compose_file(text, settings)
        else:
            out[name] = File(text)
    if kind in ("quadlet", "compose") and settings.key is not None:
        out[settings.env_file] = env_file(settings)
    return out
