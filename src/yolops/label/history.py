"""The audit trail: every change to a task, in order, and its replay.

Events are only ever appended. :func:`replay` folds a task's events into the stage,
state and labels they lead to, so the history can be checked against the task as it
is (a test does, after a whole review cycle) and any earlier state recovered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from yolops.errors import Forbidden
from yolops.identity import Actor
from yolops.label.store import LabelStore, utc
from yolops.label.tables import events, tasks, work


def task_events(store: LabelStore, task_id: int) -> list[dict]:
    """Every event of a task, oldest first, as JSON-ready dicts."""
    with store.connect("read a task's history") as conn:
        rows = conn.execute(
            select(events).where(events.c.task_id == task_id).order_by(events.c.id)
        ).all()
    return [_event(r) for r in rows]


def visible_events(store: LabelStore, actor: Actor, task_id: int) -> list[dict]:
    """A task's history as ``actor`` may see it: reviewers, managers and viewers see
    all; an annotator sees it only for a task they worked on, and never another
    annotator's copy."""
    if actor.may("label.review") or actor.role == "viewer":
        return task_events(store, task_id)
    with store.connect("read a task's history") as conn:
        mine = conn.execute(
            select(work.c.user).where(work.c.task_id == task_id, work.c.user == actor.name)
        ).first()
    if mine is None:
        raise Forbidden(f"{actor.name} ({actor.role}) may see only the history of their tasks")
    copy_actions = {"claim", "save", "submit", "release", "conflict"}
    return [
        e
        for e in task_events(store, task_id)
        if e["user"] == actor.name or not (e["action"] in copy_actions and e["stage_from"] == 0)
    ]


def _event(row) -> dict:
    return {
        "id": row.id,
        "at": utc(row.at).isoformat(),
        "user": row.user,
        "action": row.action,
        "stage_from": row.stage_from,
        "stage_to": row.stage_to,
        "revision": row.revision,
        "boxes_before": row.boxes_before,
        "boxes_after": row.boxes_after,
        "comment": row.comment,
        "details": row.details,
    }


@dataclass
class Replayed:
    """What a task's events lead to."""

    stage: int = 0
    state: str = "active"
    labels: list | None = None
    copies: dict[str, list] = field(default_factory=dict)  # first-stage copies by user
    comments: list = field(default_factory=list)


def replay(history: list[dict]) -> Replayed:
    """Fold a task's events (oldest first) into the state they lead to."""
    out = Replayed()
    for e in history:
        action = e["action"]
        if action == "unreadable":
            out.state = "unreadable"
        elif action in ("claim", "save", "submit") and e["stage_from"] == 0 and out.labels is None:
            out.copies[e["user"]] = e["boxes_after"]
        elif action == "release":
            out.copies.pop(e["details"]["user"], None)
        elif action == "merge":
            out.labels, out.stage = e["boxes_after"], e["stage_to"]
            out.state = "done" if e["stage_to"] == e["stage_from"] else "active"
            out.comments = []
        elif action in ("save", "submit", "approve"):
            out.labels = e["boxes_after"]
            if action != "save":
                out.state = "done" if e["stage_to"] == e["stage_from"] else "active"
                out.stage = e["stage_to"]
                out.comments = []
        elif action == "reject":
            out.stage, out.state, out.comments = e["stage_to"], "active", [e["comment"]]
    return out


def current(store: LabelStore, task_id: int) -> Replayed:
    """The task's stage, state, labels and open comments as stored (to compare with a
    replay)."""
    with store.connect("read a task") as conn:
        row = conn.execute(select(tasks).where(tasks.c.id == task_id)).one()
        copies = {
            r.user: r.boxes
            for r in conn.execute(select(work).where(work.c.task_id == task_id))
            if r.state != "released"
        }
    return Replayed(row.stage, row.state, row.boxes, copies, list(row.comments or []))
