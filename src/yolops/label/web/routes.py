"""The studio's HTTP API: a thin layer over :mod:`yolops.label`, which decides who may
do what (the API only says who is asking: :mod:`yolops.label.web.auth`).

Routes are plain functions (FastAPI runs them on its thread pool), so a database
call never blocks the event loop. Errors are the JSON envelope of
:mod:`yolops.api_errors`: 401 not logged in, 403 not allowed, 404 unknown, 409
somebody changed the task first (``current`` holds the task as it is now), 422 a
bad request (boxes outside the image, an unknown stage...).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from yolops.api_errors import ApiError, ErrorResponse
from yolops.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    LabelError,
    NotFoundError,
    SourceError,
    YolopsError,
)
from yolops.identity import Actor
from yolops.label import history, tasks
from yolops.label.export import export
from yolops.label.progress import status
from yolops.label.projects import create_project, get_project, list_projects, require
from yolops.label.store import LabelStore
from yolops.label.web.auth import COOKIE, actor_of

ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 422)}
router = APIRouter(prefix="/api", responses=ERRORS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(_Strict):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Label(_Strict):
    box: list[float] = Field(min_length=4, max_length=4)
    cls: int
    source: str | None = None
    disputed: bool | None = None


class Save(_Strict):
    revision: int
    boxes: list[Label]


class Approve(_Strict):
    revision: int
    boxes: list[Label] | None = None


class Comment(_Strict):
    text: str = Field(min_length=1, max_length=2000)
    box: list[float] | None = Field(default=None, min_length=4, max_length=4)


class Reject(_Strict):
    revision: int
    comment: Comment


class NextTask(_Strict):
    stage: str | None = None


class NewProject(_Strict):
    name: str
    classes: list[str]
    stages: list[str] = ["annotate", "review"]
    overlap: int = 1
    model: str | None = None


class ExportRequest(_Strict):
    to: str
    message: str | None = None


def get_store(request: Request) -> LabelStore:
    return request.app.state.label.store


def get_actor(request: Request) -> Actor:
    state = request.app.state.label
    return actor_of(request, state.users, state.keys)


def _call(fn, *args, **kwargs) -> Any:
    """Run a studio call; its errors become the API's answers."""
    try:
        return fn(*args, **kwargs)
    except NotFoundError as e:
        raise ApiError(404, "not_found", str(e)) from None
    except Forbidden as e:
        raise ApiError(403, "forbidden", str(e)) from None
    except Conflict as e:
        raise _ConflictError(str(e), e.current) from None
    except (LabelError, ConfigError, SourceError) as e:
        raise ApiError(422, "invalid_request", str(e)) from None


class _ConflictError(ApiError):
    def __init__(self, message: str, current: dict | None):
        super().__init__(409, "conflict", message)
        self.current = current


def _labels(boxes: list[Label] | None) -> list[dict] | None:
    if boxes is None:
        return None
    return [b.model_dump(exclude_none=True) for b in boxes]


# -- session --------------------------------------------------------------------------------


@router.post("/login")
def login(body: Login, request: Request, response: Response) -> dict:
    state = request.app.state.label
    state.throttle.check(body.name)
    found = state.users.login(body.name, body.password)
    if found is None:
        state.throttle.failed(body.name)
        raise ApiError(401, "unauthenticated", "wrong name or password")
    token, session = found
    response.set_cookie(
        COOKIE,
        token,
        max_age=int((session.expires_at - session.created_at).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return {"user": {"name": session.user.name, "role": session.user.role}}


@router.post("/logout")
def logout(request: Request, response: Response) -> dict:
    token = request.cookies.get(COOKIE)
    if token:
        request.app.state.label.users.logout(token)
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}


@router.get("/me")
def me(actor: Actor = Depends(get_actor)) -> dict:
    return {
        "name": actor.name,
        "role": actor.role,
        "can": {
            what: actor.may(f"label.{what}") for what in ("view", "annotate", "review", "manage")
        },
    }


# -- projects -------------------------------------------------------------------------------


@router.get("/projects")
def projects(actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)) -> list:
    _call(require, actor, "label.view", "see projects")
    out = []
    for project in list_projects(store):
        summary = status(store, project)
        summary.pop("people")
        out.append(summary)
    return out


@router.post("/projects", status_code=201)
def new_project(
    body: NewProject, actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)
) -> dict:
    project = _call(
        create_project,
        store,
        actor,
        body.name,
        body.classes,
        body.stages,
        body.overlap,
        body.model,
    )
    return project.to_json()


@router.get("/projects/{name}")
def project(
    name: str, actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)
) -> dict:
    _call(require, actor, "label.view", "see projects")
    found = _call(get_project, store, name)
    summary = status(store, found)
    if not (actor.may("label.review") or actor.role == "viewer"):
        summary["people"] = [p for p in summary["people"] if p["user"] == actor.name]
    return summary


@router.get("/projects/{name}/queue")
def queue(
    name: str,
    stage: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> dict:
    found = _call(get_project, store, name)
    index, items = _call(tasks.queue, store, actor, found, stage, limit)
    return {"stage": found.stages[index], "tasks": items}


@router.post("/projects/{name}/next")
def next_task(
    name: str,
    body: NextTask,
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> JSONResponse:
    found = _call(get_project, store, name)
    task = _call(tasks.next_task, store, actor, found, body.stage)
    if task is None:
        raise ApiError(404, "queue_empty", f"nothing left for {actor.name} at this stage")
    return JSONResponse(task)


@router.post("/projects/{name}/export")
def export_project(
    name: str,
    body: ExportRequest,
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> dict:
    found = _call(get_project, store, name)
    _call(require, actor, "label.manage", "export a project")
    try:
        result = _call(export, store, actor, found, body.to, body.message)
    except YolopsError as e:  # the dataset side: a bad name, a failed commit
        raise ApiError(422, "invalid_request", str(e)) from None
    return {"version": result.commit.version.ref, "summary": result.describe()}


# -- tasks ----------------------------------------------------------------------------------


@router.get("/tasks/{task_id}")
def task(
    task_id: int, actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)
) -> JSONResponse:
    return JSONResponse(_call(tasks.view, store, actor, task_id))


@router.get("/tasks/{task_id}/image")
def task_image(
    task_id: int, actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)
):
    view = _call(tasks.view, store, actor, task_id)
    row = _call(tasks.image_of, store, task_id)
    if row is None:
        raise ApiError(404, "not_found", f"task {task_id}: its image was never stored")
    blob, suffix = row
    try:
        path = store.objects.local_path(blob, suffix)
    except YolopsError as e:
        raise ApiError(404, "not_found", str(e)) from None
    return FileResponse(
        path,
        headers={"Cache-Control": "private, max-age=86400, immutable"},
        filename=view["image"]["name"].rsplit("/", 1)[-1],
        content_disposition_type="inline",
    )


@router.put("/tasks/{task_id}")
def save_task(
    task_id: int,
    body: Save,
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> JSONResponse:
    return JSONResponse(
        _call(tasks.save, store, actor, task_id, body.revision, _labels(body.boxes))
    )


@router.post("/tasks/{task_id}/submit")
def submit_task(
    task_id: int,
    body: Save,
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> JSONResponse:
    return JSONResponse(
        _call(tasks.save, store, actor, task_id, body.revision, _labels(body.boxes), submit=True)
    )


@router.post("/tasks/{task_id}/approve")
def approve_task(
    task_id: int,
    body: Approve,
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> JSONResponse:
    return JSONResponse(
        _call(tasks.approve, store, actor, task_id, body.revision, _labels(body.boxes))
    )


@router.post("/tasks/{task_id}/reject")
def reject_task(
    task_id: int,
    body: Reject,
    actor: Actor = Depends(get_actor),
    store: LabelStore = Depends(get_store),
) -> JSONResponse:
    return JSONResponse(
        _call(tasks.reject, store, actor, task_id, body.revision, body.comment.model_dump())
    )


@router.post("/tasks/{task_id}/release")
def release_task(
    task_id: int, actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)
) -> dict:
    _call(tasks.release, store, actor, task_id)
    return {"ok": True}


@router.get("/tasks/{task_id}/history")
def task_history(
    task_id: int, actor: Actor = Depends(get_actor), store: LabelStore = Depends(get_store)
) -> list:
    _call(tasks.view, store, actor, task_id)  # who may see the task at all
    return _call(history.visible_events, store, actor, task_id)
