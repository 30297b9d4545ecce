"""Running the app under uvicorn: in the foreground (the CLI) or on a background
thread (tests, the demo, the load benchmark).

One process holds one model: scale out with more processes or machines behind a
load balancer, not with uvicorn workers sharing a CPU budget.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from yolops.api_errors import error_body
from yolops.errors import YolopsError
from yolops.net import bind
from yolops.serve.app import build_app
from yolops.serve.config import ServeConfig
from yolops.serve.source import LoadedModel, ModelSource, load_model, model_source


@dataclass(frozen=True)
class RunningServer:
    url: str  # http(s)://host:port, no trailing slash
    host: str
    port: int
    model: LoadedModel


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX`` would). Each thread that
    decodes images otherwise gets an arena of its own that keeps freed memory: under
    32 concurrent clients the server's RSS settled ~120 MB higher. No-op (False) off glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(-8, arenas))  # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def prepare(
    config: ServeConfig, source: ModelSource | None = None
) -> tuple[ModelSource, LoadedModel, socket.socket]:
    """Load the model and bind the socket before uvicorn starts, so that a bad model
    or a busy port is one clear error rather than a failed start-up."""
    limit_malloc_arenas()
    source = source or model_source(config)
    source.fingerprint()  # a missing file or an unknown alias says so here
    model = load_model(source.resolve(), config.threads)
    return source, model, bind(config.host, config.port)


class _Connection(h11.Connection):
    """h11's connection, keeping the last error the client's bytes caused, so that the
    answer can say which (uvicorn passes on only a fixed text)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self):
        try:
            return super().next_event()
        except h11.RemoteProtocolError as e:
            self.last_error = e
            raise


class EnvelopeH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering what it refuses before the app sees a request
    (malformed request line or headers, a bad Content-Length, a head over
    ``max_header_bytes``) with the JSON error envelope of every other 4xx, instead of
    plain text. The head limit is h11's ``max_incomplete_event_size``, set explicitly
    (``ServeConfig.max_header_bytes``). The connection is closed after such an answer,
    as uvicorn does: the stream cannot be trusted past a framing error."""

    def __init__(self, config, server_state, app_state, _loop=None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head = self.conn._max_incomplete_event_size
        self.conn = _Connection(h11.SERVER, self.max_head)

    def send_400_response(self, msg: str) -> None:
        error = getattr(self.conn, "last_error", None)
        status = getattr(error, "error_status_hint", 400) or 400
        if status == 431:
            code = "headers_too_large"
            message = f"the request line and headers are over the limit of {self.max_head} bytes"
        else:
            status, code = 400, "malformed_request"
            detail = str(error) if error is not None and str(error) else "cannot be parsed"
            message = f"the HTTP request is malformed: {detail}"
        body = error_body(code, message)
        headers = [
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
        ]
        reason = h11_reason(status)
        for event in (
            h11.Response(status_code=status, headers=headers, reason=reason),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def h11_reason(status: int) -> bytes:
    return {400: b"Bad Request", 431: b"Request Header Fields Too Large"}.get(status, b"Error")


def _uvicorn_server(config: ServeConfig, source: ModelSource, model: LoadedModel, log_level: str):
    app = build_app(config, source, model)
    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            ssl_certfile=config.tls_cert or None,
            ssl_keyfile=config.tls_key or None,
            timeout_keep_alive=30,
            # h11 with the JSON envelope for what it refuses (not httptools, even when
            # installed: its refusals are plain text), and the head limit set here.
            http=EnvelopeH11Protocol,
            h11_max_incomplete_event_size=config.max_header_bytes,
        )
    )


def run_server(
    config: ServeConfig, source: ModelSource | None = None, log_level: str = "info"
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM: in-flight requests finish first)."""
    source, model, sock = prepare(config, source)
    server = _uvicorn_server(config, source, model, log_level)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def background_server(
    config: ServeConfig,
    source: ModelSource | None = None,
    log_level: str = "warning",
    start_timeout: float = 60.0,
) -> Iterator[RunningServer]:
    """A server on a background thread for the ``with`` block; ``config.port`` 0
    picks a free port. Stops (and joins) on exit."""
    source, model, sock = prepare(config, source)
    server = _uvicorn_server(config, source, model, log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="yolops-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise YolopsError("the server did not start; see its log above")
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    scheme = "https" if config.tls else "http"
    try:
        yield RunningServer(f"{scheme}://{_url_host(host)}:{port}", host, port, model)
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
