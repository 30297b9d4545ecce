"""Running the studio under uvicorn: in the foreground (`yolops label serve`) or on a
background thread (tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from yolops.errors import YolopsError
from yolops.label.web.app import build_label_app
from yolops.net import bind
from yolops.workspace import Workspace


def _server(workspace: Workspace, log_level: str) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            build_label_app(workspace),
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=5,
            timeout_keep_alive=30,
            h11_max_incomplete_event_size=64 * 1024,
        )
    )


def run_label_server(
    workspace: Workspace, host: str = "127.0.0.1", port: int = 8080, log_level: str = "info"
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    sock = bind(host, port)
    try:
        _server(workspace, log_level).run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def background_label_server(
    workspace: Workspace, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[str]:
    """The studio on a background thread for the ``with`` block; yields its URL.
    Port 0 picks a free one."""
    sock = bind(host, port)
    server = _server(workspace, log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="yolops-label", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise YolopsError("the labeling studio did not start; see its log above")
        time.sleep(0.02)
    bound_host, bound_port = sock.getsockname()[:2]
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
