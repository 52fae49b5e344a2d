"""What a running server costs and does: ``status()`` and ``metrics()``. Pure parsing.

The figures come from three places: llama-server's ``/props`` (context and
slots, also read by ``info()``), its ``/slots`` (which are busy) and
``/metrics`` (Prometheus text, served with ``metrics=True``), and the
operating system (resident memory of the server's processes, or of its
container, measured by ``process/usage.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..http.protocol import json_object

SLOTS_PATH = "/slots"  # root paths, not under /v1
METRICS_PATH = "/metrics"
# How long status() waits for each of the server's answers. /slots is
# answered by the server's task loop, so it queues behind a prompt being
# read: status() then reports busy_slots=None rather than wait.
STATUS_TIMEOUT = 2.0


@dataclass(frozen=True)
class ServerStatus:
    """What a served model costs now (``model.status()``).

    - ``memory``: bytes resident (RSS) in the server's processes on this
      machine: ramalama and llama-server, or in container mode ramalama and
      the engine's client;
    - ``container_memory``: bytes the container uses (container mode only);
    - ``context_size``: tokens one request may use; ``slots``: requests
      served at once; ``busy_slots``: how many are generating now (None when
      the server did not answer within ``STATUS_TIMEOUT``);
    - ``sleeping``: the server unloaded its model while idle (None where the
      server does not say);
    - ``uptime``: seconds since the server was started; ``pid``: the
      ``ramalama serve`` process; ``port``; ``container``: its name.
    """

    model: str
    pid: int | None
    port: int | None
    container: str | None
    uptime: float | None
    memory: int | None
    container_memory: int | None = None
    context_size: int | None = None
    slots: int | None = None
    busy_slots: int | None = None
    sleeping: bool | None = None


@dataclass(frozen=True)
class PropsFigures:
    """The parts of ``/props`` that status() reports."""

    context_size: int | None = None
    slots: int | None = None
    sleeping: bool | None = None


def serve_args(metrics: object, runtime: str) -> tuple[str, ...]:
    """llama-server's flags for the ``metrics`` option (its ``/metrics``).

    >>> serve_args(True, "llama.cpp")
    ('--metrics',)
    >>> serve_args(False, "llama.cpp")
    ()
    >>> serve_args(True, "vllm")
    Traceback (most recent call last):
    ValueError: metrics=True needs runtime='llama.cpp' (llama-server's /metrics)
    """
    if not isinstance(metrics, bool):
        raise TypeError(f"metrics must be True or False, not {metrics!r}")
    if not metrics:
        return ()
    if runtime != "llama.cpp":
        raise ValueError("metrics=True needs runtime='llama.cpp' (llama-server's /metrics)")
    return ("--metrics",)


def props_figures(props_body: bytes | str | None) -> PropsFigures:
    """Context size, slot count and sleep state from llama-server's ``/props``.

    >>> props_figures(b'{"default_generation_settings":{"n_ctx":2048},"total_slots":4}')
    PropsFigures(context_size=2048, slots=4, sleeping=None)
    >>> props_figures(b'{"is_sleeping":true}').sleeping
    True
    >>> props_figures(None)
    PropsFigures(context_size=None, slots=None, sleeping=None)
    """
    if props_body is None:
        return PropsFigures()
    props = json_object(props_body)
    settings = props.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, Mapping) else None
    sleeping = props.get("is_sleeping")
    return PropsFigures(
        context_size=_count(n_ctx),
        slots=_count(props.get("total_slots")),
        sleeping=sleeping if isinstance(sleeping, bool) else None,
    )


def busy_slots(slots_body: bytes | str | None) -> int | None:
    """How many of llama-server's ``/slots`` are processing a request.

    >>> busy_slots(b'[{"id":0,"is_processing":true},{"id":1,"is_processing":false}]')
    1
    >>> busy_slots(None) is None
    True
    >>> busy_slots(b'{"error":"x"}') is None
    True
    """
    if slots_body is None:
        return None
    try:
        slots = json.loads(slots_body)
    except ValueError:
        return None
    if not isinstance(slots, list) or not all(isinstance(s, Mapping) for s in slots):
        return None
    return sum(1 for slot in slots if slot.get("is_processing") is True)


def parse_metrics(text: bytes | str) -> dict[str, float]:
    """Prometheus text (llama-server's ``/metrics``) as ``{name: value}``.

    A sample with labels is keyed by its name and its labels, sorted, as
    Prometheus writes them; comments and type lines are left out.

    >>> parse_metrics('''# HELP llamacpp:prompt_tokens_total Number of prompt tokens.
    ... # TYPE llamacpp:prompt_tokens_total counter
    ... llamacpp:prompt_tokens_total 42
    ... llamacpp:requests_processing 0
    ... ''')
    {'llamacpp:prompt_tokens_total': 42.0, 'llamacpp:requests_processing': 0.0}
    >>> parse_metrics('x_total{b="2",a="1"} 3.5\\n')
    {'x_total{a="1",b="2"}': 3.5}
    """
    from prometheus_client.parser import text_string_to_metric_families

    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    figures: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            figures[_key(sample.name, sample.labels)] = float(sample.value)
    return figures


def _key(name: str, labels: Mapping[str, str]) -> str:
    if not labels:
        return name
    folded = ",".join(f'{label}="{labels[label]}"' for label in sorted(labels))
    return f"{name}{{{folded}}}"


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
