"""Labeling projects: classes, the ordered stages a task goes through, how many
annotators label each task (overlap), and the model that pre-labels.

    project = create_project(store, actor, "blood", ["RBC", "WBC", "Platelets"],
                             stages=("annotate", "review", "accept"), model="bccd@production")

The first stage is where annotators draw; every later stage is a review (approve,
or reject back to the stage before). Creating or changing a project needs the
``label.manage`` permission (managers and admins).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from yolops.errors import ConfigError, Forbidden, NotFoundError
from yolops.identity import Actor
from yolops.label.store import LabelStore, now, utc
from yolops.label.tables import events, projects

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
STAGE_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")
DEFAULT_STAGES = ("annotate", "review")
MAX_OVERLAP = 10


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    classes: tuple[str, ...]
    stages: tuple[str, ...]
    overlap: int
    model: str | None
    model_version: str | None
    proposal_conf: float
    data: str | None
    created_by: str
    created_at: datetime

    def stage_index(self, stage: str | int) -> int:
        """The index of a stage given by name or index; ConfigError if there is none."""
        if isinstance(stage, int) and not isinstance(stage, bool):
            if 0 <= stage < len(self.stages):
                return stage
        elif stage in self.stages:
            return self.stages.index(stage)
        raise ConfigError(
            f"project {self.name!r} has no stage {stage!r}; its stages: {', '.join(self.stages)}"
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "stages": list(self.stages),
            "overlap": self.overlap,
            "model": self.model,
            "model_version": self.model_version,
            "proposal_conf": self.proposal_conf,
            "data": self.data,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def require(actor: Actor, permission: str, what: str) -> None:
    if not actor.may(permission):
        raise Forbidden(f"{actor.name} ({actor.role}) may not {what}")


def check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    names = tuple(str(c).strip() for c in classes)
    if not names or any(not n for n in names):
        raise ConfigError("a project needs at least one class, and no empty class names")
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate class names in {', '.join(names)}")
    return names


def check_stages(stages: Sequence[str]) -> tuple[str, ...]:
    names = tuple(str(s).strip() for s in stages)
    if not names:
        raise ConfigError("a project needs at least one stage (e.g. annotate,review)")
    for name in names:
        if not STAGE_RE.match(name):
            raise ConfigError(
                f"stage name {name!r}: lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate stage names in {', '.join(names)}")
    return names


def create_project(
    store: LabelStore,
    actor: Actor,
    name: str,
    classes: Sequence[str],
    stages: Sequence[str] = DEFAULT_STAGES,
    overlap: int = 1,
    model: str | None = None,
    proposal_conf: float = 0.25,
    data: str | None = None,
) -> Project:
    """A new, empty project (add tasks with :func:`yolops.label.importing.add_tasks`)."""
    require(actor, "label.manage", "create a project")
    if not NAME_RE.match(name or ""):
        raise ConfigError(
            f"project name {name!r}: 1 to 100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    classes, stages = check_classes(classes), check_stages(stages)
    if not 1 <= int(overlap) <= MAX_OVERLAP:
        raise ConfigError(f"overlap must be 1..{MAX_OVERLAP} annotators per task, got {overlap}")
    if not 0.0 < float(proposal_conf) < 1.0:
        raise ConfigError(f"proposal confidence must be in (0, 1), got {proposal_conf}")
    with store.begin("create a labeling project") as conn:
        if conn.execute(select(projects.c.id).where(projects.c.name == name)).first():
            raise ConfigError(f"a labeling project {name!r} exists already")
        at = now()
        project_id = conn.execute(
            insert(projects).values(
                name=name,
                classes=list(classes),
                stages=list(stages),
                overlap=int(overlap),
                model=model,
                model_version=None,
                proposal_conf=float(proposal_conf),
                data=data,
                created_by=actor.name,
                created_at=at,
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(events).values(
                project_id=project_id,
                task_id=None,
                at=at,
                user=actor.name,
                action="create",
                details={"classes": list(classes), "stages": list(stages), "overlap": overlap},
            )
        )
    return get_project(store, name)


def get_project(store: LabelStore, name: str) -> Project:
    with store.connect("read a labeling project") as conn:
        row = conn.execute(select(projects).where(projects.c.name == name)).first()
        if row is None:
            names = [r.name for r in conn.execute(select(projects.c.name))]
    if row is None:
        known = f"; projects: {', '.join(sorted(names))}" if names else "; none yet"
        raise NotFoundError(f"no labeling project {name!r}{known}")
    return project_from_row(row)


def project_by_id(conn, project_id: int) -> Project:
    return project_from_row(conn.execute(select(projects).where(projects.c.id == project_id)).one())


def list_projects(store: LabelStore) -> list[Project]:
    with store.connect("list labeling projects") as conn:
        return [project_from_row(r) for r in conn.execute(select(projects).order_by(projects.c.id))]


def set_model(store: LabelStore, project: Project, model: str | None, version: str | None) -> None:
    """Record which model pre-labels the project, and which version it was."""
    with store.begin("record a project's model") as conn:
        conn.execute(
            update(projects)
            .where(projects.c.id == project.id)
            .values(model=model, model_version=version)
        )


def project_from_row(row) -> Project:
    return Project(
        row.id,
        row.name,
        tuple(row.classes),
        tuple(row.stages),
        row.overlap,
        row.model,
        row.model_version,
        row.proposal_conf,
        row.data,
        row.created_by,
        utc(row.created_at),
    )
