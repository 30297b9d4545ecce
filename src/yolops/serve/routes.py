"""The HTTP routes, one router per resource: predictions, models, operations."""

from __future__ import annotations

import time
import uuid

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from yolops.api_errors import ApiError, ErrorResponse
from yolops.data.image_stats import image_statistics
from yolops.identity import KeyInfo
from yolops.monitor.log import LogEntry
from yolops.serve.batching import PredictParams
from yolops.serve.inputs import DecodedImage, decode_upload, parse_uploads, read_body
from yolops.serve.schemas import ModelsResponse, PredictResponse, ReloadResponse
from yolops.serve.state import ServerState

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer yk_...`")
_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key: `X-API-Key: yk_...`"
)


def get_state(request: Request) -> ServerState:
    return request.app.state.yolops


def require(role: str):
    """A dependency admitting requests whose API key allows ``role`` (any request when
    auth is off)."""

    def check(
        state: ServerState = Depends(get_state),
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        header: str | None = Depends(_header),
    ) -> KeyInfo | None:
        if state.keys is None:
            return None
        key = header or (bearer.credentials if bearer else None)
        if not key:
            raise ApiError(
                401,
                "unauthenticated",
                "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                {"WWW-Authenticate": "Bearer"},
            )
        info = state.keys.verify(key)
        if info is None or not info.active:
            why = "has been revoked" if info is not None else "is not valid"
            raise ApiError(
                401, "unauthenticated", f"the API key {why}", {"WWW-Authenticate": "Bearer"}
            )
        if not info.allows(role):
            raise ApiError(
                403,
                "forbidden",
                f"the API key {info.id} has role {info.role!r}; this needs {role!r}",
            )
        return info

    return check


ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 413, 415, 422, 431, 503)}

predict_router = APIRouter(tags=["predict"])
models_router = APIRouter(tags=["models"])
ops_router = APIRouter(tags=["operations"])

_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "properties": {
                        "images": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
            # PredictJson, inlined (no $ref, so every OpenAPI tool reads it as it is).
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["images"],
                    "additionalProperties": False,
                    "properties": {
                        "images": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["data"],
                                "additionalProperties": False,
                                "properties": {
                                    "data": {
                                        "type": "string",
                                        "description": "base64 of an image file",
                                    },
                                    "name": {"type": "string", "maxLength": 200},
                                },
                            },
                        }
                    },
                }
            },
        },
    }
}


@predict_router.post(
    "/v1/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra=_PREDICT_BODY,
    summary="Detect objects in one or more images",
    description=(
        "Multipart (files in the field `images`) or "
        'JSON (`{"images": [{"data": base64}]}`). '
        "Boxes are x1, y1, x2, y2 in pixels of each original image."
    ),
)
async def predict(
    request: Request,
    conf: float | None = Query(
        None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Minimum score (server default when absent)",
    ),
    iou: float | None = Query(
        None, gt=0, le=1, allow_inf_nan=False, description="NMS IoU threshold"
    ),
    max_det: int | None = Query(None, ge=1, le=1000, description="Most boxes per image"),
    state: ServerState = Depends(get_state),
    _key: KeyInfo | None = Depends(require("predict")),
) -> PredictResponse:
    start = time.perf_counter()
    cfg = state.config
    body = await read_body(request, cfg.max_upload_bytes)
    uploads = await parse_uploads(request, body, cfg.max_images)
    # Decoding is CPU work: off the event loop so that other requests keep flowing, and
    # at most one decode per core at a time so that it never crowds out inference. The
    # prediction log's image statistics are taken here too, so that it never holds pixels.
    # Large JPEGs are decoded reduced for the current model's input size (boxes still come
    # back in original pixels; a model swapped in meanwhile only sees fewer pixels). The
    # statistics are measured on a small thumbnail, so the reduced pixels do as well.
    logging = state.prediction_log is not None
    imgsz = int(state.holder.current.predictor.imgsz)

    def decode() -> list[tuple[DecodedImage, dict | None]]:
        decoded = [decode_upload(u, cfg.max_pixels, imgsz) for u in uploads]
        return [(d, image_statistics(d.image) if logging else None) for d in decoded]

    images = await anyio.to_thread.run_sync(decode, limiter=state.decode_limiter)
    params = PredictParams(
        cfg.conf if conf is None else conf,
        cfg.iou if iou is None else iou,
        cfg.max_det if max_det is None else max_det,
    )
    sizes = [d.size if d.reduced else None for d, _ in images]
    result = await state.batcher.predict(
        [d.image for d, _ in images], params, sizes if any(sizes) else None
    )
    latency_ms = (time.perf_counter() - start) * 1000
    ref = result.model.ref
    if state.prediction_log is not None:
        request_id = uuid.uuid4().hex[:16]
        for (d, stats), dets in zip(images, result.detections):
            width, height = d.size
            state.prediction_log.record(
                LogEntry(
                    request_id,
                    ref.name,
                    ref.version,
                    latency_ms,
                    d.name,
                    width,
                    height,
                    stats,
                    dets,
                    d.data,
                )
            )
    return PredictResponse(
        model={"name": ref.name, "version": ref.version},
        results=[
            {
                "name": d.name,
                "width": int(d.size[0]),
                "height": int(d.size[1]),
                "detections": dets.to_dicts(),
            }
            for (d, _), dets in zip(images, result.detections)
        ],
        batch_size=result.batch_size,
        latency_ms=round(latency_ms, 3),
    )


@models_router.get(
    "/v1/models", response_model=ModelsResponse, responses=ERRORS, summary="The model being served"
)
async def models(
    state: ServerState = Depends(get_state), _key: KeyInfo | None = Depends(require("predict"))
) -> ModelsResponse:
    return ModelsResponse(
        models=[state.holder.current.describe()],
        source=state.source.describe(),
        hot_reload=state.config.reload_interval > 0,
        last_reload_error=state.watcher.last_error,
    )


@models_router.post(
    "/v1/models/reload",
    response_model=ReloadResponse,
    responses=ERRORS,
    summary="Check the model source now and load a new version if there is one (admin)",
)
async def reload(
    state: ServerState = Depends(get_state), _key: KeyInfo | None = Depends(require("admin"))
) -> ReloadResponse:
    changed = await state.watcher.check()
    if state.watcher.last_error and not changed:
        raise ApiError(
            422,
            "reload_failed",
            f"no new model was loaded, version {state.holder.current.ref.version} "
            f"keeps serving: {state.watcher.last_error}",
        )
    ref = state.holder.current.ref
    return ReloadResponse(changed=changed, model={"name": ref.name, "version": ref.version})


@ops_router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict:
    return {"status": "ok"}


@ops_router.get(
    "/readyz",
    summary="Readiness: model loaded, batch worker running, key database reachable",
    responses={503: {"description": "Not ready; the body says what is not"}},
)
async def readyz(response: Response, state: ServerState = Depends(get_state)) -> dict:
    checks = {"model": "ok", "batcher": "ok" if state.batcher.running else "stopped"}
    if state.keys is not None:
        try:
            await run_in_threadpool(state.keys.ping)
            checks["database"] = "ok"
        except Exception as e:
            checks["database"] = str(e)
    ready = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ready else 503
    return {
        "status": "ready" if ready else "not ready",
        "checks": checks,
        "model_version": state.holder.current.ref.version,
    }


@ops_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: ServerState = Depends(get_state)) -> Response:
    state.metrics.queue_depth.set(state.batcher.waiting)
    body, content_type = state.metrics.render()
    return Response(body, media_type=content_type)
