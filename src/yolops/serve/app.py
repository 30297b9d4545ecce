"""The FastAPI application: built in one function, the model loaded at start-up.

    app = build_app(ServeConfig(model="best.onnx"))
    uvicorn.run(app)     # or yolops.serve.server.run_server(config)

Start-up (lifespan) loads the model and refuses to start on a model that cannot
serve, opens the API key store (unless auth is off), starts the batch worker, the
model watcher and the prediction log; shutdown stops them in reverse order and
writes what the log still holds.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import cv2
from anyio import CapacityLimiter
from fastapi import Depends, FastAPI

from yolops._version import __version__
from yolops.api_errors import HeadLimit, install_error_handlers, reject_unknown_query
from yolops.device import cpu_count
from yolops.identity import KeyStore
from yolops.monitor.log import PredictionLog
from yolops.serve.batching import MicroBatcher
from yolops.serve.config import ServeConfig
from yolops.serve.metrics import MetricsMiddleware, ServeMetrics
from yolops.serve.reload import ModelHolder, ModelWatcher
from yolops.serve.routes import models_router, ops_router, predict_router
from yolops.serve.source import LoadedModel, ModelSource, load_model, model_source
from yolops.serve.state import ServerState

log = logging.getLogger("yolops.serve")

AUTH_OFF_WARNING = (
    "API keys are OFF (--no-auth): anyone who can reach this server can use it. "
    "Use this for local work only."
)


def build_app(
    config: ServeConfig, source: ModelSource | None = None, model: LoadedModel | None = None
) -> FastAPI:
    """The app for ``config``; ``source`` defaults to ``config.model`` (a file or a
    registry reference, see :func:`~yolops.serve.source.model_source`);
    ``model``, when given, is served first instead of loading the source at start-up."""
    source = source or model_source(config)
    metrics = ServeMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await _start(config, source, metrics, model)
        app.state.yolops = state
        try:
            yield
        finally:
            await _stop(state)

    app = FastAPI(
        title="yolops inference API",
        version=__version__,
        lifespan=lifespan,
        # A query parameter no route declares is a 422, not ignored (a misspelt option).
        dependencies=[Depends(reject_unknown_query)],
        description=(
            "Object detection over HTTP: POST images to /v1/predict, get boxes, classes and "
            "scores in image pixels. Authenticate with an API key (`yolops keys create`)."
        ),
    )
    install_error_handlers(app)
    app.include_router(predict_router)
    app.include_router(models_router)
    app.include_router(ops_router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(HeadLimit, max_bytes=config.max_header_bytes)  # outermost
    return app


async def _start(
    config: ServeConfig, source: ModelSource, metrics: ServeMetrics, model: LoadedModel | None
):
    _quiet_threads()
    fingerprint = await asyncio.to_thread(source.fingerprint)
    if model is None:
        model = await asyncio.to_thread(
            load_model, await asyncio.to_thread(source.resolve), config.threads
        )
    metrics.set_model(model.ref.name, model.ref.version)
    holder = ModelHolder(model)
    ws = config.resolved_workspace
    keys = None
    if config.auth:
        keys = await asyncio.to_thread(KeyStore, ws.database_url)
    else:
        log.warning(AUTH_OFF_WARNING)
    plog = None
    if config.prediction_log:
        plog = PredictionLog(
            ws.database_url,
            ws.samples_dir,
            config.log_sample_rate,
            config.log_queue,
            on_drop=metrics.log_dropped.inc,
            uncertain_below=config.log_uncertain_below,
        )
        plog.start()
    batcher = MicroBatcher(holder, metrics, config.max_batch, config.max_wait_ms, config.max_queue)
    await batcher.start()
    watcher = ModelWatcher(
        source, holder, metrics, fingerprint, config.reload_interval, config.threads
    )
    watcher.start()
    log.info(
        "serving %s version %s (%d classes, imgsz %d)",
        model.ref.name,
        model.ref.version,
        len(model.predictor.class_names),
        model.predictor.imgsz,
    )
    return ServerState(
        config, source, metrics, holder, batcher, watcher, keys, plog, CapacityLimiter(cpu_count())
    )


async def _stop(state) -> None:
    await state.watcher.stop()
    await state.batcher.stop()
    if state.prediction_log is not None:
        await asyncio.to_thread(state.prediction_log.close)


def _quiet_threads() -> None:
    """One thread each for OpenCV and torch (resizing, NMS) in the server: requests
    are the parallelism, and ONNX Runtime's intra-op threads are inference's budget."""
    cv2.setNumThreads(1)
    torch = sys.modules.get("torch")  # not imported at all to serve an ONNX graph
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
