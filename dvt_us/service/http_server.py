"""Serving the HTTP API: uvicorn in a background thread of the service process, and the API token.

:class:`HttpServer` binds its socket itself (so a busy port raises in :meth:`HttpServer.start`, in the
caller's thread, and port 0 gives a free port that is read back from the socket), then runs uvicorn's
event loop in a daemon thread. uvicorn installs no signal handlers off the main thread; ``dvt-us serve``
keeps its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from dvt_us.service.config import HttpConfig

log = logging.getLogger(__name__)

TOKEN_ENV = "DVT_US_API_TOKEN"
"""The environment variable read for the API token when the config names none."""


def _checked(token: str, source: str) -> str:
    if not (token.isascii() and token.isprintable()) or any(ch.isspace() for ch in token):
        raise ValueError(f"{source}: the API token must be printable ASCII without spaces (it travels in a header)")
    return token


def resolve_token(config: HttpConfig) -> str:
    """The API bearer token: ``http.token``, else the contents of ``http.token_file``, else ``$DVT_US_API_TOKEN``.

    Surrounding whitespace (a file's trailing newline) is removed. Raises ValueError, saying how to set one,
    when none of the three gives a token or the token is not printable ASCII without spaces, and OSError when
    ``token_file`` cannot be read.
    """
    if config.token and config.token.strip():
        return _checked(config.token.strip(), "http.token")
    if config.token_file is not None:
        token = Path(config.token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"http.token_file {config.token_file} is empty; write the API token into it")
        return _checked(token, f"http.token_file {config.token_file}")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return _checked(token, TOKEN_ENV)
    raise ValueError(f"the HTTP API needs a bearer token: set http.token_file (a file holding the token) or "
                     f"http.token in the service config, or the {TOKEN_ENV} environment variable; "
                     "or set http.enabled: false")


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port), IPv4 or IPv6 as ``host`` resolves."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=128)
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """An ASGI app served by uvicorn on ``host``:``port`` from a background thread; a context manager.

    Parameters
    ----------
    app
        The ASGI application (:func:`~dvt_us.service.http_api.create_app`).
    host, port
        Where to listen; port 0 picks a free port, which :meth:`start` returns.
    start_timeout_s
        How long :meth:`start` waits for uvicorn to be serving before it gives up.
    """

    def __init__(self, app: ASGIApp, host: str, port: int, *, start_timeout_s: float = 30.0) -> None:
        self._config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off",
                                      server_header=False, timeout_graceful_shutdown=5)
        self._start_timeout_s = start_timeout_s
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port listened on (also after :meth:`stop`); RuntimeError before :meth:`start`."""
        if self._port is None:
            raise RuntimeError("the HTTP server is not started")
        return self._port

    def start(self) -> int:
        """Bind, start serving in a background thread, wait until uvicorn is up; the bound port.

        Raises OSError when the address cannot be bound, RuntimeError when uvicorn does not come up.
        """
        if self._thread is not None:
            raise RuntimeError("the HTTP server is started once")
        self._socket = sock = _listen(self._config.host, self._config.port)
        self._port = int(sock.getsockname()[1])
        self._server = server = uvicorn.Server(self._config)
        self._thread = threading.Thread(target=self._serve, args=(server, sock), name="dvt-us-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            self.stop()
            raise RuntimeError(f"the HTTP server did not start: {self._failure or 'timed out'}")
        log.info("HTTP API listening on %s:%d", self._config.host, self.port)
        return self.port

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit from a failed uvicorn start-up included; start() reports it
            self._failure = exc
            log.exception("HTTP server stopped with an error")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop accepting, let requests in progress finish (up to 5 s), and close the socket. Idempotent."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout_s)
        if self._socket is not None:
            self._socket.close()
        self._server = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
