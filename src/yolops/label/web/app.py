"""The labeling studio's web application: the API (:mod:`.routes`) and the browser UI
(``static/``: plain HTML, CSS and JS with the vendored Annotorious widget; nothing to
build, nothing fetched from elsewhere at run time).

    app = build_label_app(Workspace.resolve())
    uvicorn.run(app)          # or yolops.label.web.server.run_label_server(...)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from yolops._version import __version__
from yolops.api_errors import install_error_handlers
from yolops.identity import KeyStore, UserStore
from yolops.label.store import LabelStore
from yolops.label.web.auth import LoginThrottle
from yolops.label.web.routes import _ConflictError, router
from yolops.workspace import Workspace

STATIC = Path(__file__).parent / "static"

# The UI loads only its own files; Annotorious styles its SVG inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass
class StudioState:
    store: LabelStore
    users: UserStore
    keys: KeyStore
    throttle: LoginThrottle


def build_label_app(workspace: Workspace) -> FastAPI:
    app = FastAPI(
        title="yolops labeling studio",
        version=__version__,
        description=(
            "AI-assisted annotation with review in stages. Log in (POST /api/login) for a "
            "session cookie, or send an API key (`yolops keys create`)."
        ),
    )
    app.state.label = StudioState(
        LabelStore(workspace),
        UserStore(workspace.database_url),
        KeyStore(workspace.database_url),
        LoginThrottle(),
    )
    install_error_handlers(app)

    @app.exception_handler(_ConflictError)
    async def _conflict(_: Request, e: _ConflictError) -> JSONResponse:
        body = {"error": {"code": e.code, "message": e.message}, "current": e.current}
        return JSONResponse(body, status_code=409)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # How long the server took (the browser's dev tools and the benchmark read it).
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1e3:.1f}"
        return response

    app.include_router(router)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        page = STATIC / "index.html"
        if not page.is_file():
            return JSONResponse({"api": "/docs"})
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict:
        return {"ok": True}

    return app
