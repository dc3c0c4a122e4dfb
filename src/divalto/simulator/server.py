"""Running the simulator: in this process on a free loopback port, or as a server.

:class:`SimulatorServer` runs uvicorn in a background thread with real HTTP on
``127.0.0.1``; tests and the embedded demo use it. ``divalto simulator serve`` runs
the same application in the foreground.

The HTTP protocol class below is uvicorn's own with one addition: it hands the
application a way to reset the TCP connection (``SO_LINGER`` 0, then abort), which
the ``connection_reset`` and timeout faults need and which ASGI does not offer.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from divalto.simulator.app import ABORT_EXTENSION, SimulatorApp, create_app
from divalto.simulator.settings import SimulatorSettings
from divalto.simulator.tenant import Tenant


class ResettableHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing a connection reset to the app."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: Any = {ABORT_EXTENSION: self._reset_connection}
        self.scope["extensions"] = extensions

    def _reset_connection(self) -> None:
        """Send a TCP reset instead of an answer, and close the connection."""
        if self.cycle is not None:
            # The app returns without an answer on purpose: not an error to log.
            self.cycle.disconnected = True
        transport: Any = self.transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            linger = struct.pack("ii", 1, 0)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        transport.abort()


def uvicorn_config(
    app: SimulatorApp,
    host: str,
    port: int,
    log_level: str,
    *,
    configure_logging: bool = True,
) -> uvicorn.Config:
    """uvicorn's settings for the simulator: the resettable protocol, no access log.

    With ``configure_logging`` false, uvicorn leaves the process's logging as it
    finds it and its records go to the root logger, as an embedded server's should.
    """
    extra: dict[str, Any] = {} if configure_logging else {"log_config": None}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=ResettableHttpProtocol,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
        **extra,
    )


class SimulatorServer:
    """A simulator serving real HTTP on a loopback port, from a background thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with SimulatorServer() as sim:
            print(sim.base_url)      # http://127.0.0.1:PORT/123456/TEST1/api/v1/
    """

    def __init__(
        self,
        settings: SimulatorSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        site: str = "123456",
        env: str = "TEST1",
    ) -> None:
        self.app = create_app(settings)
        self.host = host
        self.port = port
        self.site = site
        self.env = env
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def tenant(self) -> Tenant:
        """The simulated tenant: its settings, state, clock, faults and log."""
        return self.app.tenant

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:41234``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The cloud-form API base, ending with ``/api/v1/``."""
        return f"{self.url}/{self.site}/{self.env}/api/v1/"

    @property
    def on_premises_base_url(self) -> str:
        """The on-premises-form API base, ending with ``/api/v1/``."""
        return f"{self.url}/DhsDivaltoServiceDivaApiRest/api/v1/"

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        """Serve from a background thread; raises RuntimeError if it does not start.

        The process's logging configuration is left alone: uvicorn's records
        (``uvicorn.error``) propagate to the root logger.
        """
        # Named TCP, so that asyncio turns Nagle off on each connection: with
        # proto 0 it leaves it on, and a response written in two parts (head,
        # body) waits for the client's delayed ACK, some 40 ms a call.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn_config(
            self.app, self.host, self.port, "warning", configure_logging=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name="divalto-simulator",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {self.url}")
            time.sleep(0.01)
        self._server = server
        self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving; calls hanging under a timeout fault are cut at once."""
        if self._server is None or self._thread is None:
            return
        self.app.release_hangs()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(settings: SimulatorSettings, host: str, port: int) -> None:
    """Serve in the foreground until interrupted (``divalto simulator serve``)."""
    uvicorn.Server(uvicorn_config(create_app(settings), host, port, "info")).run()
