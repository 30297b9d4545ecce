"""Tasks from images: a folder of images, a dataset in any format yolops reads (YOLO,
COCO, VOC, Label Studio JSON, CVAT XML — with their annotations), a dataset version
(``bccd@v1``), or the monitor's export batch (its model labels become proposals).

Each image's bytes go into the workspace's object store (by SHA-256), so a project
holds its images whatever happens to the source. An image that cannot be read
becomes a task marked unreadable, with the reason; nothing is skipped without being
counted and named in the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select

from yolops.data.dataset import Dataset
from yolops.data.formats import detect_format
from yolops.data.images import is_image_name, probe_image
from yolops.data.objects import file_digest
from yolops.data.record import ImageRecord
from yolops.data.versions import looks_like_ref
from yolops.errors import DatasetFormatError, ImageReadError, LabelError, SourceError
from yolops.identity import Actor
from yolops.label.labels import from_arrays
from yolops.label.projects import Project, require
from yolops.label.store import LabelStore, now
from yolops.label.tables import events, tasks

MONITOR_SELECTION = "selection.csv"  # what marks the monitor's export batch


@dataclass
class ImportResult:
    source: str
    kind: str  # folder | dataset | version | monitor
    added: int = 0
    unreadable: list[str] = field(default_factory=list)  # "image: why"
    already: list[str] = field(default_factory=list)  # image ids the project has already
    boxes: int = 0  # labels the images came with
    problems: list[str] = field(default_factory=list)  # what loading the source reported
    task_ids: list[int] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{self.added} task(s) added from {self.source} ({self.kind})"]
        if self.boxes:
            came = "as proposals" if self.kind == "monitor" else "as labels to start from"
            parts.append(f"{self.boxes} box(es) came with them, {came}")
        if self.unreadable:
            parts.append(
                f"{len(self.unreadable)} image(s) unreadable, kept as tasks marked so "
                f"(first: {self.unreadable[0]})"
            )
        if self.already:
            parts.append(
                f"{len(self.already)} already in the project, not added again "
                f"(first: {self.already[0]})"
            )
        if self.problems:
            parts.append(
                f"{len(self.problems)} problem(s) reading the source (first: {self.problems[0]})"
            )
        return "; ".join(parts)


def add_tasks(
    store: LabelStore,
    actor: Actor,
    project: Project,
    source: str | Path,
    format: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Add a task for every image of ``source`` (see the module docstring)."""
    require(actor, "label.manage", "add tasks")
    records, class_names, splits, kind, problems = _read_source(store, source, format)
    mapping = _class_mapping(class_names, project, str(source))
    split_of = {i: s for s, ids in splits.items() for i in ids}
    result = ImportResult(str(source), kind, problems=problems)
    with store.connect("list a project's images") as conn:
        have = {
            r.image_id
            for r in conn.execute(select(tasks.c.image_id).where(tasks.c.project_id == project.id))
        }
    rows = []
    for i, record in enumerate(records):
        if progress:
            progress(i, len(records))
        if record.id in have:
            result.already.append(record.id)
            continue
        have.add(record.id)
        rows.append(_row(store, project, record, mapping, kind, str(source), split_of, result))
    if progress:
        progress(len(records), len(records))
    if rows:
        _insert(store, actor, project, rows, result)
    return result


def _read_source(store: LabelStore, source, format):
    """``(records, class names, splits, kind, problems)`` of a source."""
    text = str(source)
    path = Path(text).expanduser()
    if not path.exists():
        if format is not None or not looks_like_ref(text):
            raise SourceError(f"{text}: no such file or folder")
        ds = Dataset.load(text, workspace=store.workspace)
        return list(ds), ds.class_names, ds.splits, "version", []
    if path.is_dir() and format is None and not _holds_dataset(path):
        images = sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p))
        if not images:
            raise SourceError(f"{path}: no images in this folder (and no dataset yolops reads)")
        records = [ImageRecord(p.relative_to(path).as_posix(), p, 0, 0) for p in images]
        return records, (), {}, "folder", []
    try:
        ds = Dataset.load(path, format=format)
    except DatasetFormatError as e:
        raise SourceError(f"{path}: {e}") from None
    problems = [str(issue) for issue in ds.issues]
    kind = "monitor" if (path / MONITOR_SELECTION).is_file() else "dataset"
    return list(ds), ds.class_names, ds.splits, kind, problems


def _holds_dataset(folder: Path) -> bool:
    """Whether a folder holds a dataset (of any format) rather than plain images; a
    folder with several formats is an error that says which."""
    try:
        detect_format(folder)
    except DatasetFormatError as e:
        if "holds no dataset" in str(e):
            return False
        raise SourceError(str(e)) from None
    return True


def _class_mapping(names: Sequence[str], project: Project, source: str) -> dict[int, int]:
    missing = [n for n in names if n not in project.classes]
    if missing:
        raise LabelError(
            f"{source}: class(es) {', '.join(map(repr, missing))} are not classes of project "
            f"{project.name!r} ({', '.join(project.classes)}); add them to the project or map "
            "them before importing"
        )
    return {i: project.classes.index(n) for i, n in enumerate(names)}


def _row(store, project, record: ImageRecord, mapping, kind, source, split_of, result) -> dict:
    path = Path(record.path)
    unreadable = None
    width, height = record.width or None, record.height or None
    try:
        info = probe_image(path)
        width, height = info.width, info.height
    except ImageReadError as e:
        unreadable = e.reason
        result.unreadable.append(f"{record.id}: {e.reason}")
    blob = None
    if path.is_file():
        blob = file_digest(path)
        store.objects.put_file(path, blob)
    labels = from_arrays(record.boxes, [mapping[int(c)] for c in record.classes], "import")
    result.boxes += len(labels)
    monitor = kind == "monitor"
    return dict(
        project_id=project.id,
        image_id=record.id,
        blob=blob,
        suffix=path.suffix.lower(),
        width=width,
        height=height,
        split=split_of.get(record.id),
        origin={"kind": kind, "source": source},
        state="unreadable" if unreadable else "active",
        unreadable=unreadable,
        stage=0,
        revision=0,
        boxes=None,
        initial=None if monitor else labels,
        proposals=[{k: v for k, v in lb.items() if k != "source"} for lb in labels]
        if monitor
        else None,
        prelabel_model="monitor export" if monitor else None,
        uncertainty=None,
        error_score=None,
        agreement=None,
        claims=0,
        actors={},
        comments=[],
        held_by=None,
        held_until=None,
        updated_at=now(),
    )


def _insert(store: LabelStore, actor: Actor, project: Project, rows, result) -> None:
    with store.begin("add tasks") as conn:
        conn.execute(insert(tasks), rows)
        ids = {
            r.image_id: r.id
            for r in conn.execute(
                select(tasks.c.id, tasks.c.image_id).where(tasks.c.project_id == project.id)
            )
        }
        at = now()
        conn.execute(
            insert(events),
            [
                dict(
                    project_id=project.id,
                    task_id=ids[r["image_id"]],
                    at=at,
                    user=actor.name,
                    action="unreadable" if r["unreadable"] else "import",
                    stage_from=None,
                    stage_to=0,
                    revision=0,
                    boxes_before=None,
                    boxes_after=r["initial"],
                    comment=None,
                    details={**r["origin"], "why": r["unreadable"]}
                    if r["unreadable"]
                    else r["origin"],
                )
                for r in rows
            ],
        )
    result.added = len(rows)
    result.task_ids = [ids[r["image_id"]] for r in rows]
