"""RamalamaModel: a served model driven with blocking calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from types import TracebackType

import requests
from requests.adapters import HTTPAdapter

from . import protocol
from .base import BaseModel
from .process import spawn, stop_group
from .server import Probe, Server, Sleep, Spawn, Step, Stop, start_steps
from .types import ChatMessage

_JSON = {"Content-Type": "application/json"}
CONNECT_TIMEOUT = 5.0


class RamalamaModel(BaseModel):
    """A local model, served by ``ramalama serve`` for as long as you need it.

        with RamalamaModel(model="tinyllama") as model:
            print(model.chat("How tall is Michael Jordan?")["content"])

    All options are keyword-only; see the README for each one. The object is
    safe to share between threads: ``chat()`` may run concurrently.
    """

    def _init_io(self) -> None:
        self._lock = threading.RLock()
        self._session: requests.Session | None = None

    def __enter__(self) -> RamalamaModel:
        self.download()
        self.serve()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def download(self) -> None:
        """Pull the model into ramalama's store (quick when it is already there)."""
        argv = self._pull_argv()
        log = self._new_pull_log()
        try:
            popen = spawn(argv, env=self._env(), stdout=log.handle, stderr=log.handle).result()
            try:
                code = popen.wait()
            except BaseException:  # KeyboardInterrupt: leave no pull running
                stop_group(popen)
                raise
            if code != 0:
                output = "\n".join(log.tail(50))
                raise self._pull_failed(argv, code, output)
        finally:
            log.close(keep=0)

    def serve(self) -> None:
        """Start the server and return once it answers; no-op if it already runs.

        Raises ServerStartError, ServerTimeoutError or a DownloadError; in
        every case nothing is left running.
        """
        with self._lock:
            if self.is_running:
                return
            self._stop_locked()
            mode, ramalama = self._resolve()
            self._session = _new_session()
            try:
                server = self._drive(start_steps(self.options, mode, ramalama))
            except BaseException:
                self._stop_locked()
                raise
            self._adopt(server, server.stop)

    def stop(self) -> None:
        """Stop the server and wait until all its processes are gone; idempotent."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        server = self._release()
        try:
            if server is not None:
                server.stop()
        finally:
            if self._session is not None:
                self._session.close()
                self._session = None

    def chat(self, message: str, history: list[ChatMessage] | None = None) -> ChatMessage:
        """Send ``message`` after ``history`` (not modified) and return the reply.

        The reply is ``{"role": "assistant", "content": "..."}``.
        """
        messages = protocol.chat_messages(message, history)
        body = protocol.chat_body(self.options.model, messages)
        data = self._post(protocol.CHAT_PATH, body)
        return protocol.parse_chat_reply(data)

    # -- I/O -------------------------------------------------------------

    def _post(self, path: str, body: bytes) -> bytes:
        server = self._require_server()
        session = self._session
        if session is None:
            raise self._not_running()
        try:
            response = session.post(
                server.base_url + path,
                data=body,
                headers=_JSON,
                timeout=(CONNECT_TIMEOUT, self.options.request_timeout),
            )
        except requests.Timeout as exc:
            raise self._transport_error(exc, timed_out=True) from None
        except requests.RequestException as exc:
            _settle(server)
            raise self._transport_error(exc, timed_out=False) from None
        if response.status_code != 200:
            raise protocol.api_error(response.status_code, response.content)
        return response.content

    def _drive(self, steps: Generator[Step, object, Server]) -> Server:
        """Run the start-up state machine with blocking I/O."""
        spawned: Server | None = None
        result: object = None
        try:
            while True:
                try:
                    step = steps.send(result)
                except StopIteration as done:
                    server: Server = done.value
                    return server
                result = None
                if isinstance(step, Spawn):
                    spawned = step.server
                    result = step.server.start(self._env()).result()
                elif isinstance(step, Probe):
                    result = self._probe(step.url)
                elif isinstance(step, Sleep):
                    time.sleep(step.seconds)
                elif isinstance(step, Stop):
                    step.server.stop()
        except BaseException:
            if spawned is not None:
                spawned.stop()
            raise

    def _probe(self, url: str) -> bool:
        assert self._session is not None
        try:
            return self._session.get(url, timeout=(1.0, 2.0)).status_code == 200
        except requests.RequestException:
            return False


def _new_session() -> requests.Session:
    session = requests.Session()
    # Concurrent chat() calls from many threads each keep a connection.
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=64)
    session.mount("http://", adapter)
    session.trust_env = False  # a proxy must never see loopback traffic
    return session


def _settle(server: Server, wait: float = 0.5) -> None:
    """Give a dying server a moment to exit, so the error says it stopped."""
    if server.popen is not None:
        try:
            server.popen.wait(timeout=wait)
        except Exception:  # still running: the error is a connection error
            pass
