"""Approved labels out of the studio, as a new dataset version with its lineage.

    result = export(store, actor, project, to="bccd", message="review round 2")

The new version of ``to`` is its latest version with every done task's labels in
place of that image's (same image id), and the images it did not have added (to the
task's own split, else ``split``). Tasks not done yet leave their image as it was.
``produced_by`` names the project, the tasks, the people and the model that
pre-labeled them, so `yolops data lineage` shows where each version's labels came from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from yolops.data.dataset import Dataset
from yolops.data.record import SPLITS, ImageRecord
from yolops.data.versions import CommitResult, commit, list_versions, load_version
from yolops.errors import ConfigError, LabelError, UnknownDatasetError
from yolops.identity import Actor
from yolops.label.labels import to_arrays
from yolops.label.projects import Project, require
from yolops.label.store import LabelStore, now
from yolops.label.tables import events, tasks, work


@dataclass(frozen=True)
class ExportResult:
    commit: CommitResult
    tasks: int  # done tasks exported
    replaced: int  # images of the base version whose labels they replace
    added: int  # images new to the dataset
    not_done: int  # tasks of the project still in a stage (their images left as they were)
    unreadable: int
    base: str | None  # the version it started from

    def describe(self) -> str:
        v = self.commit.version
        made = "new version" if self.commit.created else "no change; still"
        text = (
            f"{made} {v.ref}: {self.tasks} approved task(s) — {self.replaced} image(s) "
            f"relabeled, {self.added} added"
        )
        if self.base:
            text += f" (from {self.base})"
        if self.not_done:
            text += f"; {self.not_done} task(s) not done yet, left out"
        if self.unreadable:
            text += f"; {self.unreadable} unreadable image(s) left out"
        return text


def export(
    store: LabelStore,
    actor: Actor,
    project: Project,
    to: str,
    message: str | None = None,
    split: str | None = "train",
) -> ExportResult:
    require(actor, "label.manage", "export a project")
    if split is not None and split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    with store.connect("read a project's tasks") as conn:
        rows = conn.execute(
            select(tasks).where(tasks.c.project_id == project.id).order_by(tasks.c.id)
        ).all()
        people = Counter(
            r.user
            for r in conn.execute(
                select(work.c.user)
                .join(tasks, tasks.c.id == work.c.task_id)
                .where(
                    tasks.c.project_id == project.id,
                    tasks.c.state == "done",
                    work.c.state == "submitted",
                )
            )
        )
        reviewers = Counter(
            r.user
            for r in conn.execute(
                select(events.c.user).where(
                    events.c.project_id == project.id, events.c.action == "approve"
                )
            )
        )
    done = [r for r in rows if r.state == "done"]
    if not done:
        raise LabelError(f"project {project.name!r} has no approved tasks to export yet")
    base_parts, base_ref = _base(store, to)
    class_names = base_parts.class_names if base_parts else project.classes
    remap = _remap(project, class_names, to)
    records = {r.id: r for r in (base_parts.records if base_parts else [])}
    split_of = {i: s for s, ids in (base_parts.splits if base_parts else {}).items() for i in ids}
    replaced = added = 0
    for row in done:
        boxes, classes = to_arrays(row.boxes or [])
        path = store.objects.local_path(row.blob, row.suffix)
        record = ImageRecord(
            row.image_id, path, row.width, row.height, boxes, [remap[int(c)] for c in classes]
        )
        if row.image_id in records:
            replaced += 1
        else:
            added += 1
            chosen = row.split or split
            if chosen is not None:
                split_of[row.image_id] = chosen
        records[row.image_id] = record
    splits: dict[str, list[str]] = {}
    for image_id, s in split_of.items():
        splits.setdefault(s, []).append(image_id)
    dataset = Dataset(list(records.values()), class_names, splits, name=to)
    produced_by = {
        "kind": "labeling",
        "project": project.name,
        "tasks": [r.id for r in done],
        "annotators": dict(people),
        "reviewers": dict(reviewers),
        "model": project.model,
        "model_version": project.model_version,
        "base": base_ref,
    }
    result = commit(
        dataset,
        to,
        message or f"labels of project {project.name}: {len(done)} approved task(s)",
        workspace=store.workspace,
        author=actor.name,
        produced_by=produced_by,
    )
    with store.begin("record an export") as conn:
        conn.execute(
            events.insert().values(
                project_id=project.id,
                task_id=None,
                at=now(),
                user=actor.name,
                action="export",
                details={"version": result.version.ref, "tasks": len(done)},
            )
        )
    return ExportResult(
        result,
        len(done),
        replaced,
        added,
        sum(1 for r in rows if r.state == "active"),
        sum(1 for r in rows if r.state == "unreadable"),
        base_ref,
    )


def _base(store: LabelStore, name: str):
    try:
        found = list_versions(store.workspace, name)
    except UnknownDatasetError:
        return None, None
    if not found:
        return None, None
    return load_version(store.workspace, found[-1].ref), found[-1].ref


def _remap(project: Project, class_names, to: str) -> dict[int, int]:
    missing = [c for c in project.classes if c not in class_names]
    if missing:
        raise LabelError(
            f"dataset {to!r} has no class(es) {', '.join(map(repr, missing))} of project "
            f"{project.name!r}; export to a new dataset name, or add the classes there first"
        )
    return {i: list(class_names).index(c) for i, c in enumerate(project.classes)}
