"""Pre-labels: a model's detections stored on tasks as proposals.

    result = prelabel(store, actor, project, model="bccd-detector@production")

Any model reference works (``NAME@ALIAS``, ``NAME/VERSION``, ``runs:/...``, a .pt or
.onnx file). Only tasks nobody has started are pre-labeled, so a new model never
changes the suggestions under someone's hands. Detections down to ``FLOOR`` are kept:
the studio shows those above the project's proposal confidence, and the rest still
count towards the model's uncertainty (which orders the annotators' queue) and the
label-error scores (which order review).

:func:`refresh` pre-labels again when the project follows an alias that has moved to
another model version since it last did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, update

from yolops.data.images import read_image
from yolops.errors import LabelError, TrackingError, YolopsError
from yolops.identity import Actor
from yolops.label.labels import from_arrays
from yolops.label.projects import Project, require, set_model
from yolops.label.scoring import uncertainty
from yolops.label.store import LabelStore, now
from yolops.label.tables import tasks
from yolops.label.tasks import record

FLOOR = 0.05
MAX_PROPOSALS = 300


@dataclass
class PrelabelResult:
    model: str
    version: str
    tasks: int = 0
    proposals: int = 0
    unreadable: list[str] = field(default_factory=list)
    other_classes: dict[str, int] = field(default_factory=dict)  # model classes not in project

    def describe(self) -> str:
        text = (
            f"{self.tasks} task(s) pre-labeled by {self.model} ({self.version}): "
            f"{self.proposals} proposal(s)"
        )
        if self.unreadable:
            text += f"; {len(self.unreadable)} image(s) unreadable ({self.unreadable[0]})"
        if self.other_classes:
            other = ", ".join(f"{k} x{v}" for k, v in self.other_classes.items())
            text += f"; detections of classes the project lacks, not proposed: {other}"
        return text


def model_version(store: LabelStore, model: str) -> str:
    """What ``model`` is now: ``NAME/VERSION`` for a registry reference, the file's
    digest for a file."""
    from yolops.data.objects import file_digest
    from yolops.track.resolve import is_reference, resolve_model
    from yolops.track.store import model_version as registry_version

    if is_reference(model) and not model.startswith("runs:/"):
        mv = registry_version(store.workspace, model)
        return f"{mv.name}/{mv.version}"
    path = resolve_model(model, store.workspace)
    if not path.is_file():
        raise LabelError(f"model {model!r}: no such file")
    return f"sha256:{file_digest(path)[:12]}"


def prelabel(
    store: LabelStore,
    actor: Actor,
    project: Project,
    model: str | None = None,
    task_ids: Sequence[int] | None = None,
    batch: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> PrelabelResult:
    """Proposals from ``model`` (default: the project's) on the untouched tasks of
    ``project`` (or those of ``task_ids`` among them)."""
    require(actor, "label.manage", "pre-label a project")
    from yolops.track.resolve import load_model

    model = model or project.model
    if not model:
        raise LabelError(f"project {project.name!r} has no model to pre-label with (--model)")
    try:
        version = model_version(store, model)
        predictor = load_model(model, store.workspace)
    except TrackingError as e:
        raise LabelError(f"model {model!r}: {e}") from None
    mapping = _class_mapping(predictor.class_names, project, model)
    result = PrelabelResult(model, version)
    todo = _untouched(store, project, task_ids)
    for start in range(0, len(todo), batch):
        if progress:
            progress(start, len(todo))
        chunk = todo[start : start + batch]
        images, readable = [], []
        for row in chunk:
            try:
                images.append(read_image(store.objects.local_path(row.blob, row.suffix)))
                readable.append(row)
            except YolopsError as e:  # unreadable bytes, or an object missing from the store
                result.unreadable.append(f"{row.image_id}: {e}")
                _mark_unreadable(store, actor, row, str(e))
        if not images:
            continue
        found = predictor.predict(images, conf=FLOOR, max_det=MAX_PROPOSALS)
        updates = []
        for row, dets in zip(readable, found):
            keep = np.array([int(c) in mapping for c in dets.classes], bool)
            for c in dets.classes[~keep]:
                name = predictor.class_names[int(c)]
                result.other_classes[name] = result.other_classes.get(name, 0) + 1
            classes = [mapping[int(c)] for c in dets.classes[keep]]
            proposals = from_arrays(dets.boxes[keep], classes, "model", dets.scores[keep])
            updates.append((row, proposals, uncertainty(dets.scores[keep])))
            result.proposals += sum(p["score"] >= project.proposal_conf for p in proposals)
        result.tasks += _store_proposals(store, actor, updates, model, version)
    if progress:
        progress(len(todo), len(todo))
    set_model(store, project, model, version)
    return result


def refresh(
    store: LabelStore, actor: Actor, project: Project, progress=None
) -> PrelabelResult | None:
    """Pre-label again when the project's model now names another version (an alias
    that moved: a new model was promoted); None when nothing changed."""
    if not project.model:
        return None
    if model_version(store, project.model) == project.model_version:
        return None
    return prelabel(store, actor, project, progress=progress)


def following(store: LabelStore, model: str) -> list[Project]:
    """The projects pre-labeled by the registered model ``model`` (``NAME@ALIAS``,
    with or without ``models:/``), e.g. to pre-label them again after a promotion."""
    from yolops.label.projects import list_projects

    wanted = model.removeprefix("models:/")
    return [p for p in list_projects(store) if (p.model or "").removeprefix("models:/") == wanted]


def _class_mapping(names: Sequence[str], project: Project, model: str) -> dict[int, int]:
    mapping = {i: project.classes.index(n) for i, n in enumerate(names) if n in project.classes}
    if not mapping:
        raise LabelError(
            f"model {model!r} knows none of project {project.name!r}'s classes "
            f"(model: {', '.join(names)}; project: {', '.join(project.classes)})"
        )
    return mapping


def _untouched(store: LabelStore, project: Project, task_ids) -> list:
    query = select(tasks).where(
        tasks.c.project_id == project.id,
        tasks.c.state == "active",
        tasks.c.stage == 0,
        tasks.c.boxes.is_(None),
        tasks.c.claims == 0,
    )
    with store.connect("list tasks to pre-label") as conn:
        rows = conn.execute(query.order_by(tasks.c.id)).all()
    if task_ids is not None:
        wanted = set(task_ids)
        rows = [r for r in rows if r.id in wanted]
    return rows


def _store_proposals(store, actor, updates, model: str, version: str) -> int:
    done = 0
    with store.begin("store proposals") as conn:
        for row, proposals, unsure in updates:
            changed = conn.execute(
                update(tasks)
                .where(tasks.c.id == row.id, tasks.c.claims == 0, tasks.c.boxes.is_(None))
                .values(
                    proposals=proposals,
                    prelabel_model=f"{model} ({version})",
                    uncertainty=unsure,
                    updated_at=now(),
                )
            ).rowcount
            if not changed:
                continue  # somebody started it meanwhile: their suggestions stay
            done += 1
            details = {"model": model, "version": version, "proposals": len(proposals)}
            record(conn, row, actor, "prelabel", 0, 0, None, details=details)
    return done


def _mark_unreadable(store: LabelStore, actor: Actor, row, why: str) -> None:
    with store.begin("mark a task unreadable") as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.id == row.id)
            .values(state="unreadable", unreadable=why, updated_at=now())
        )
        record(conn, row, actor, "unreadable", None, None, None, details={"why": why})
