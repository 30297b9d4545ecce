"""Where a project stands: tasks per stage, and per person what they did.

Per annotator: tasks submitted, tasks per hour (over the time between taking a task
and submitting it, each capped at :data:`MAX_TASK_TIME` so a task left open over
lunch does not count as work), the share of their submissions sent back to them, the
share of proposals they accepted unchanged, and how far their own labels agree with
the final, approved ones (F1 at IoU 0.5). Per reviewer: approvals and rejections.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select

from yolops.label.consensus import f1
from yolops.label.projects import Project
from yolops.label.store import LabelStore, utc
from yolops.label.tables import events, tasks, work

MAX_TASK_TIME = timedelta(minutes=30)


def status(store: LabelStore, project: Project) -> dict:
    """Counts per stage and state, and the per-person figures (JSON-ready)."""
    with store.connect("read a project's progress") as conn:
        rows = conn.execute(
            select(tasks.c.id, tasks.c.state, tasks.c.stage, tasks.c.boxes).where(
                tasks.c.project_id == project.id
            )
        ).all()
        copies = conn.execute(
            select(work)
            .join(tasks, tasks.c.id == work.c.task_id)
            .where(tasks.c.project_id == project.id)
        ).all()
        reviews = conn.execute(
            select(events.c.user, events.c.action, events.c.task_id, events.c.stage_to).where(
                events.c.project_id == project.id, events.c.action.in_(("approve", "reject"))
            )
        ).all()
    by_stage = {s: 0 for s in project.stages}
    done = unreadable = 0
    final = {}
    for r in rows:
        if r.state == "done":
            done += 1
            final[r.id] = r.boxes or []
        elif r.state == "unreadable":
            unreadable += 1
        else:
            by_stage[project.stages[r.stage]] += 1
    return {
        **project.to_json(),
        "tasks": len(rows),
        "by_stage": by_stage,
        "done": done,
        "unreadable": unreadable,
        "people": _people(copies, reviews, final),
    }


def _people(copies, reviews, final: dict) -> list[dict]:
    figures: dict[str, dict] = defaultdict(
        lambda: {
            "submitted": 0,
            "seconds": 0.0,
            "sent_back": 0,
            "proposals": 0,
            "accepted": 0,
            "agreement": [],
            "approved": 0,
            "rejected": 0,
        }
    )
    annotators_of: dict[int, list[str]] = defaultdict(list)
    for c in copies:
        if c.state != "submitted":
            continue
        f = figures[c.user]
        f["submitted"] += 1
        spent = utc(c.submitted_at) - utc(c.started_at)
        f["seconds"] += min(spent, MAX_TASK_TIME).total_seconds()
        f["proposals"] += c.proposals_total or 0
        f["accepted"] += c.proposals_accepted or 0
        annotators_of[c.task_id].append(c.user)
        if c.task_id in final:
            f["agreement"].append(f1(c.boxes, final[c.task_id]))
    for r in reviews:
        figures[r.user]["approved" if r.action == "approve" else "rejected"] += 1
        if r.action == "reject" and r.stage_to == 0:
            for user in annotators_of.get(r.task_id, ()):
                figures[user]["sent_back"] += 1
    out = []
    for user, f in sorted(figures.items()):
        hours = f["seconds"] / 3600
        out.append(
            {
                "user": user,
                "submitted": f["submitted"],
                "tasks_per_hour": round(f["submitted"] / hours, 1) if hours > 0 else None,
                "rejection_rate": round(f["sent_back"] / f["submitted"], 3)
                if f["submitted"]
                else None,
                "proposals_accepted": round(f["accepted"] / f["proposals"], 3)
                if f["proposals"]
                else None,
                "agreement": round(sum(f["agreement"]) / len(f["agreement"]), 3)
                if f["agreement"]
                else None,
                "approved": f["approved"],
                "rejected": f["rejected"],
            }
        )
    return out
