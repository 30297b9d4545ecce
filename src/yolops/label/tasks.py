"""Tasks through their stages: who may do what, and what each step records.

A task is one image. At the first stage each of ``overlap`` annotators labels their
own copy (:data:`~yolops.label.tables.work`) and submits it; when the last one has,
the copies are merged (:mod:`yolops.label.consensus`) into the task's labels and the
task moves to the next stage. Every later stage is a review: approve (on to the next
stage, or done after the last) or reject with a comment (back to the stage before).
A task rejected back to the first stage is fixed on its labels by one of its
annotators and submitted again.

Rules the server keeps, whoever asks:

- a role may act only at the stages it is for (annotators at the first, reviewers,
  managers and admins at the reviews); nobody skips a stage;
- two-person rule: nobody reviews a task they annotated or moved on at an earlier stage;
- in overlap, an annotator sees only their own copy until the copies are merged;
- every save names the revision it started from; a save from an older revision is a
  :class:`~yolops.errors.Conflict` (409), and the refused boxes are kept in the audit
  trail, so nothing anyone sent is lost;
- every change is an event (:mod:`yolops.label.history`) in the same transaction as
  the change itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.engine import Connection

from yolops.errors import Conflict, Forbidden, LabelError, NotFoundError
from yolops.identity import Actor
from yolops.label import consensus
from yolops.label.labels import accepted_unchanged, check_labels, mark_sources
from yolops.label.projects import Project, project_by_id, require
from yolops.label.store import LabelStore, now, utc
from yolops.label.tables import events, tasks, work

log = logging.getLogger(__name__)

HOLD = timedelta(minutes=30)  # how long `next` keeps a task for the one it gave it to
QUEUE_PAGE = 200
NEXT_CANDIDATES = 20  # `next` tries this many of the queue's top tasks before looking again


# -- reading ----------------------------------------------------------------------------------


def _task(conn: Connection, task_id: int):
    row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
    if row is None:
        raise NotFoundError(f"no labeling task {task_id}")
    return row


def _work_rows(conn: Connection, task_id: int) -> dict[str, object]:
    rows = conn.execute(select(work).where(work.c.task_id == task_id)).all()
    return {r.user: r for r in rows}


def _annotators(work_rows: dict) -> set[str]:
    return {u for u, r in work_rows.items() if r.state == "submitted"}


def _initial_pass(task) -> bool:
    """Whether the task is at its first pass of the first stage (copies, not labels)."""
    return task.stage == 0 and task.boxes is None


def _shown_proposals(task, project: Project) -> list[dict]:
    return [p for p in task.proposals or () if p.get("score", 1.0) >= project.proposal_conf]


def _reviewer_may(actor: Actor, task, work_rows: dict, stage: int) -> str | None:
    """Why ``actor`` may not review ``task`` at ``stage``; None when they may."""
    if not actor.may("label.review"):
        return f"{actor.name} ({actor.role}) may not review"
    if actor.name in _annotators(work_rows):
        return f"{actor.name} annotated task {task.id} and may not review it (two-person rule)"
    earlier = {int(k): v for k, v in (task.actors or {}).items() if int(k) < stage}
    if actor.name in earlier.values():
        return f"{actor.name} moved task {task.id} on at an earlier stage (two-person rule)"
    return None


def _annotator_may(actor: Actor, task, work_rows: dict, overlap: int) -> str | None:
    """Why ``actor`` may not work on ``task`` at the first stage; None when they may."""
    if not actor.may("label.annotate"):
        return f"{actor.name} ({actor.role}) may not annotate"
    mine = work_rows.get(actor.name)
    if _initial_pass(task):
        if mine is not None and mine.state == "submitted":
            return f"{actor.name} has submitted task {task.id} already"
        if mine is None or mine.state == "released":
            live = sum(1 for r in work_rows.values() if r.state != "released")
            if live >= overlap:
                return f"task {task.id} has its {overlap} annotator(s) already"
        return None
    # Fixing after a rejection: one of its annotators, or a manager.
    if actor.name in _annotators(work_rows) or actor.may("label.manage"):
        return None
    return f"task {task.id} is being fixed by its annotators"


def _why_not(actor: Actor, task, work_rows: dict, project: Project) -> str | None:
    """Why ``actor`` may not act on ``task`` at its stage now; None when they may."""
    if task.state != "active":
        return f"task {task.id} is {task.state}"
    if task.stage == 0:
        return _annotator_may(actor, task, work_rows, project.overlap)
    return _reviewer_may(actor, task, work_rows, task.stage)


def _check_may_act(actor: Actor, task, work_rows: dict, project: Project) -> None:
    """Forbidden when the role or the two-person rule says no; a conflict (stale
    request) when the task has moved on since the person looked at it."""
    why = _why_not(actor, task, work_rows, project)
    if why is None:
        return
    # An annotator saving a task that has gone on to review: their view is stale.
    handed_on = task.stage > 0 and actor.name in work_rows and not actor.may("label.review")
    moved_on = task.state != "active" or handed_on
    if moved_on:
        raise _Stale(f"task {task.id} has moved on ({why})")
    raise Forbidden(why)


def _may_see(actor: Actor, task, work_rows: dict) -> bool:
    if not actor.may("label.view"):
        return False
    if actor.may("label.review") or actor.role == "viewer":
        return True
    # An annotator: the tasks they work on, and first-stage tasks open to them.
    return actor.name in work_rows or (task.stage == 0 and task.state == "active")


def view(store: LabelStore, actor: Actor, task_id: int) -> dict:
    """The task as ``actor`` sees it (the JSON the studio's API sends)."""
    with store.connect("read a task") as conn:
        task = _task(conn, task_id)
        work_rows = _work_rows(conn, task_id)
        project = project_by_id(conn, task.project_id)
    if not _may_see(actor, task, work_rows):
        raise Forbidden(f"{actor.name} ({actor.role}) may not see task {task_id}")
    return _view(actor, task, work_rows, project)


def _view(actor: Actor, task, work_rows: dict, project: Project) -> dict:
    mine = work_rows.get(actor.name)
    if _initial_pass(task):
        if mine is not None and mine.state != "released":
            boxes, revision = mine.boxes, mine.revision
        else:
            boxes, revision = list(task.initial or []), task.revision
    else:
        boxes, revision = task.boxes, task.revision
    why_not = _why_not(actor, task, work_rows, project)
    first = task.stage == 0
    can_act = why_not is None and task.state == "active"
    held = task.held_by if task.held_until and utc(task.held_until) > now() else None
    return {
        "id": task.id,
        "project": project.name,
        "classes": list(project.classes),
        "stages": list(project.stages),
        "stage": project.stages[task.stage],
        "stage_index": task.stage,
        "state": task.state,
        "image": {
            "name": task.image_id,
            "url": f"/api/tasks/{task.id}/image",
            "width": task.width,
            "height": task.height,
        },
        "revision": revision,
        "boxes": boxes,
        "proposals": _shown_proposals(task, project) if first else [],
        "comments": list(task.comments or []),
        "can": {
            "save": can_act,
            "submit": can_act and first,
            "approve": can_act and not first,
            "reject": can_act and not first,
        },
        "why_not": why_not,
        "held_by": held,
        "agreement": task.agreement,
        "error_score": task.error_score,
        "unreadable": task.unreadable,
    }


# -- queues -----------------------------------------------------------------------------------


def queue(
    store: LabelStore, actor: Actor, project: Project, stage: str | int | None = None, limit=50
) -> tuple[int, list[dict]]:
    """``(stage index, tasks)``: what ``actor`` may do at ``stage`` (default: the first
    stage they can act at), best first: their own drafts, then tasks sent back to be
    fixed, then the most uncertain for the model (annotators); for reviewers the tasks
    annotators disagree on, then the likeliest label errors."""
    index = _default_stage(actor, project) if stage is None else project.stage_index(stage)
    require(actor, "label.view", "see a queue")
    out: list[dict] = []
    with store.connect("list a queue") as conn:
        offset = 0
        while len(out) < limit:
            rows = conn.execute(
                _queue_query(project, index, actor).limit(QUEUE_PAGE).offset(offset)
            ).all()
            if not rows:
                break
            offset += len(rows)
            ids = [r.id for r in rows]
            copies: dict[int, dict] = {}
            for w in conn.execute(select(work).where(work.c.task_id.in_(ids))):
                copies.setdefault(w.task_id, {})[w.user] = w
            for row in rows:
                if _why_not(actor, row, copies.get(row.id, {}), project) is None:
                    out.append(_queue_item(row, project, index))
                    if len(out) == limit:
                        break
    return index, out


def _default_stage(actor: Actor, project: Project) -> int:
    if actor.may("label.review") and not actor.may("label.manage") and len(project.stages) > 1:
        return 1
    return 0


def _queue_query(project: Project, index: int, actor: Actor):
    held_by_other = and_(
        tasks.c.held_by.is_not(None), tasks.c.held_by != actor.name, tasks.c.held_until > now()
    )
    query = select(tasks).where(
        tasks.c.project_id == project.id,
        tasks.c.state == "active",
        tasks.c.stage == index,
        ~held_by_other,
    )
    if index == 0:
        mine = (
            select(work.c.task_id)
            .where(work.c.user == actor.name, work.c.state == "draft")
            .scalar_subquery()
        )
        return query.order_by(
            tasks.c.id.in_(mine).desc(),  # my drafts first
            tasks.c.boxes.is_(None),  # then tasks sent back to be fixed
            tasks.c.uncertainty.is_(None),
            tasks.c.uncertainty.desc(),
            tasks.c.id,
        )
    return query.order_by(
        tasks.c.agreement.is_(None),
        tasks.c.agreement,  # annotators disagree: look first
        tasks.c.error_score.is_(None),
        tasks.c.error_score.desc(),  # a likely label error: look next
        tasks.c.id,
    )


def _queue_item(row, project: Project, index: int) -> dict:
    return {
        "id": row.id,
        "image": row.image_id,
        "stage": project.stages[index],
        "boxes": len(row.boxes or row.initial or []),
        "proposals": len(_shown_proposals(row, project)),
        "uncertainty": row.uncertainty,
        "error_score": row.error_score,
        "agreement": row.agreement,
        "rejected": bool(row.comments),
    }


def next_task(
    store: LabelStore, actor: Actor, project: Project, stage: str | int | None = None
) -> dict | None:
    """The next task for ``actor`` at ``stage``, held for them (others' queues skip
    it for :data:`HOLD`) and, at the first stage, claimed as their copy; None when
    nothing is left."""
    index = _default_stage(actor, project) if stage is None else project.stage_index(stage)
    if index == 0:
        require(actor, "label.annotate", "annotate")
    else:
        require(actor, "label.review", "review")
    for _ in range(5):  # others may take the top tasks between look and claim
        index, items = queue(store, actor, project, index, limit=NEXT_CANDIDATES)
        if not items:
            return None
        for item in items:
            try:
                with store.begin("take a task") as conn:
                    if not _take(conn, actor, _task(conn, item["id"]), project, index):
                        continue
            except Conflict:
                continue
            return view(store, actor, item["id"])
    return None


def _take(conn: Connection, actor: Actor, task, project: Project, index: int) -> bool:
    """Hold ``task`` for ``actor`` (and at the first stage, claim their copy); False
    when somebody else took it first. Overlapping annotators share a task: no hold."""
    first_pass = index == 0 and _initial_pass(task)
    if not (first_pass and project.overlap > 1):
        held = conn.execute(
            update(tasks)
            .where(
                tasks.c.id == task.id,
                tasks.c.revision == task.revision,
                or_(
                    tasks.c.held_by.is_(None),
                    tasks.c.held_by == actor.name,
                    tasks.c.held_until <= now(),
                ),
            )
            .values(held_by=actor.name, held_until=now() + HOLD)
        ).rowcount
        if not held:
            return False
    if first_pass:
        _claim(conn, actor, task, project)
    return True


def _claim(conn: Connection, actor: Actor, task, project: Project) -> tuple[object, bool]:
    """``(copy, new)``: ``actor``'s own copy of a first-stage task, made (``new``) when
    they first take it."""
    mine = conn.execute(
        select(work).where(work.c.task_id == task.id, work.c.user == actor.name)
    ).first()
    if mine is not None and mine.state == "draft":
        return mine, False
    if mine is not None and mine.state == "submitted":
        raise Conflict(f"{actor.name} has submitted task {task.id} already")
    took = conn.execute(
        update(tasks)
        .where(tasks.c.id == task.id, tasks.c.claims < project.overlap, tasks.c.boxes.is_(None))
        .values(claims=tasks.c.claims + 1)
    ).rowcount
    if not took:
        raise Conflict(f"task {task.id} has its {project.overlap} annotator(s) already")
    at = now()
    values = dict(
        boxes=list(task.initial or []),
        revision=task.revision,
        state="draft",
        started_at=at,
        updated_at=at,
        submitted_at=None,
    )
    if mine is None:
        conn.execute(insert(work).values(task_id=task.id, user=actor.name, **values))
    else:  # taking back a copy they released
        conn.execute(
            update(work)
            .where(work.c.task_id == task.id, work.c.user == actor.name)
            .values(**values)
        )
    record(conn, task, actor, "claim", 0, 0, task.revision, after=values["boxes"])
    copy = conn.execute(
        select(work).where(work.c.task_id == task.id, work.c.user == actor.name)
    ).one()
    return copy, True


# -- changes ----------------------------------------------------------------------------------


def record(
    conn: Connection,
    task,
    actor: Actor,
    action: str,
    stage_from: int | None,
    stage_to: int | None,
    revision: int | None,
    before: Sequence[dict] | None = None,
    after: Sequence[dict] | None = None,
    comment: dict | None = None,
    details: dict | None = None,
) -> None:
    """One audit event, in the caller's transaction."""
    conn.execute(
        insert(events).values(
            project_id=task.project_id,
            task_id=task.id,
            at=now(),
            user=actor.name,
            action=action,
            stage_from=stage_from,
            stage_to=stage_to,
            revision=revision,
            boxes_before=None if before is None else list(before),
            boxes_after=None if after is None else list(after),
            comment=comment,
            details=details,
        )
    )


def _refuse(store: LabelStore, actor: Actor, task_id: int, why: str, boxes) -> Conflict:
    """A conflict, with what was refused kept in the audit trail."""
    with store.begin("record a refused save") as conn:
        task = _task(conn, task_id)
        record(
            conn,
            task,
            actor,
            "conflict",
            task.stage,
            task.stage,
            task.revision,
            after=boxes,
            details={"why": why},
        )
    return Conflict(why, current=view_or_none(store, actor, task_id))


def view_or_none(store: LabelStore, actor: Actor, task_id: int) -> dict | None:
    try:
        return view(store, actor, task_id)
    except LabelError:
        return None


def _checked(project: Project, task, boxes) -> list[dict]:
    labels = check_labels(boxes, len(project.classes), task.width, task.height)
    return mark_sources(labels, _shown_proposals(task, project))


def save(
    store: LabelStore, actor: Actor, task_id: int, revision: int, boxes, submit: bool = False
) -> dict:
    """Save ``boxes`` on the task (from ``revision``); with ``submit``, also hand it
    on (first stage only). Returns the task as it is now. One transaction: the task
    read, checked, changed and read back."""
    labels = None
    try:
        with store.begin("save a task") as conn:
            task = _task(conn, task_id)
            project = project_by_id(conn, task.project_id)
            if task.state == "unreadable":
                raise LabelError(f"task {task_id}: the image cannot be read ({task.unreadable})")
            labels = _checked(project, task, boxes)
            if submit and task.stage != 0:
                stage = project.stages[task.stage]
                raise _Stale(f"task {task_id} is at stage {stage!r}: approve or reject it")
            work_rows = _work_rows(conn, task_id)
            _check_may_act(actor, task, work_rows, project)
            if _initial_pass(task):
                _save_copy(conn, actor, task, project, revision, labels, submit)
            else:
                _save_labels(conn, actor, task, revision, labels, submit, project)
            now_view = _view(actor, _task(conn, task_id), _work_rows(conn, task_id), project)
    except _Stale as stale:
        raise _refuse(store, actor, task_id, str(stale), labels) from None
    if submit:
        _SCORER.submit(_score_after_submit, store, task_id)
    return now_view


class _Stale(Exception):
    """The revision a save started from is not the current one."""


def _save_copy(conn, actor, task, project, revision, labels, submit) -> None:
    mine, new = _claim(conn, actor, task, project)
    revision = mine.revision if new else revision  # a first save has nothing to conflict with
    if mine.revision != revision:
        raise _Stale(
            f"task {task.id}: your copy is at revision {mine.revision}, "
            f"this save started from {revision} (another tab or device saved first)"
        )
    at = now()
    new_revision = _bump(conn, task.id)
    values = dict(boxes=labels, revision=new_revision, updated_at=at)
    shown = _shown_proposals(task, project)
    if submit:
        values.update(
            state="submitted",
            submitted_at=at,
            proposals_total=len(shown),
            proposals_accepted=accepted_unchanged(shown, labels),
        )
    done = conn.execute(
        update(work)
        .where(
            work.c.task_id == task.id,
            work.c.user == actor.name,
            work.c.revision == revision,
            work.c.state == "draft",
        )
        .values(**values)
    ).rowcount
    if not done:
        raise _Stale(f"task {task.id}: your copy changed while saving; reload it")
    details = None
    if submit:
        details = {
            "proposals": len(shown),
            "proposals_accepted": values["proposals_accepted"],
        }
    action = "submit" if submit else "save"
    record(conn, task, actor, action, 0, 0, new_revision, mine.boxes, labels, details=details)
    if submit:
        _merge_if_complete(conn, actor, _task(conn, task.id), project)


def _bump(conn: Connection, task_id: int) -> int:
    """The task's next revision number. Copies take theirs from the task's counter
    too, so a revision names one state of one task whatever was saved."""
    conn.execute(update(tasks).where(tasks.c.id == task_id).values(revision=tasks.c.revision + 1))
    return conn.execute(select(tasks.c.revision).where(tasks.c.id == task_id)).scalar_one()


def _merge_if_complete(conn, actor, task, project: Project) -> None:
    copies = [
        r
        for r in conn.execute(
            select(work).where(work.c.task_id == task.id, work.c.state == "submitted")
        ).all()
    ]
    if len(copies) < project.overlap:
        return
    copies.sort(key=lambda r: utc(r.submitted_at))
    annotations = [r.boxes for r in copies]
    merged = consensus.merge(annotations)
    agreement = consensus.agreement(annotations) if project.overlap > 1 else None
    stage_to, state = _forward(project, 0)
    conn.execute(
        update(tasks)
        .where(tasks.c.id == task.id)
        .values(
            boxes=merged,
            agreement=agreement,
            stage=stage_to,
            state=state,
            revision=task.revision + 1,
            comments=[],
            held_by=None,
            held_until=None,
            updated_at=now(),
        )
    )
    record(
        conn,
        task,
        actor,
        "merge",
        0,
        stage_to,
        task.revision + 1,
        None,
        merged,
        details={"annotators": [r.user for r in copies], "agreement": agreement},
    )


def _forward(project: Project, stage: int) -> tuple[int, str]:
    """The stage after ``stage`` and the state there (``done`` after the last)."""
    if stage + 1 >= len(project.stages):
        return stage, "done"
    return stage + 1, "active"


def _save_labels(conn, actor, task, revision, labels, submit, project: Project) -> None:
    if task.revision != revision:
        raise _Stale(
            f"task {task.id} is at revision {task.revision}; this save started from {revision} "
            "(somebody saved or moved it first)"
        )
    stage_to, state = _forward(project, task.stage) if submit else (task.stage, task.state)
    values = dict(boxes=labels, revision=revision + 1, updated_at=now())
    if submit:
        values.update(
            stage=stage_to,
            state=state,
            comments=[],
            held_by=None,
            held_until=None,
            actors={**(task.actors or {}), str(task.stage): actor.name},
        )
    done = conn.execute(
        update(tasks).where(tasks.c.id == task.id, tasks.c.revision == revision).values(**values)
    ).rowcount
    if not done:
        raise _Stale(f"task {task.id} changed while saving; reload it")
    action = "submit" if submit else "save"
    record(conn, task, actor, action, task.stage, stage_to, revision + 1, task.boxes, labels)


def approve(store: LabelStore, actor: Actor, task_id: int, revision: int, boxes=None) -> dict:
    """Approve the task at its review stage (with ``boxes``, after correcting them):
    on to the next stage, or done after the last."""
    return _review(store, actor, task_id, revision, boxes, None)


def reject(store: LabelStore, actor: Actor, task_id: int, revision: int, comment: dict) -> dict:
    """Send the task back to the stage before, with ``comment`` ``{"text", "box"}``
    pinned to a box ``[x1, y1, x2, y2]`` or (``box`` None) to the image."""
    if not isinstance(comment, dict) or not str(comment.get("text") or "").strip():
        raise LabelError("a rejection needs a comment saying what to fix ({text, box})")
    return _review(store, actor, task_id, revision, None, comment)


def _review(store, actor, task_id, revision, boxes, comment) -> dict:
    with store.connect("read a task") as conn:
        task = _task(conn, task_id)
        project = project_by_id(conn, task.project_id)
    labels = None if boxes is None else _checked(project, task, boxes)
    if comment is not None:
        comment = _check_comment(comment, task, project, actor)
    try:
        with store.begin("review a task") as conn:
            task = _task(conn, task_id)
            work_rows = _work_rows(conn, task_id)
            if task.state == "active" and task.stage == 0:
                raise Forbidden(
                    f"task {task_id} is at stage {project.stages[0]!r}: it is not up for review"
                )
            _check_may_act(actor, task, work_rows, project)
            if task.revision != revision:
                raise _Stale(
                    f"task {task_id} is at revision {task.revision}; this review started from "
                    f"{revision} (somebody saved or moved it first)"
                )
            if comment is None:
                stage_to, state = _forward(project, task.stage)
                new_labels = task.boxes if labels is None else labels
                values = dict(
                    stage=stage_to,
                    state=state,
                    boxes=new_labels,
                    comments=[],
                    actors={**(task.actors or {}), str(task.stage): actor.name},
                )
                action = "approve"
            else:
                stage_to, state, new_labels = task.stage - 1, "active", task.boxes
                values = dict(stage=stage_to, state=state, comments=[comment])
                action = "reject"
            done = conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.revision == revision)
                .values(
                    revision=revision + 1,
                    held_by=None,
                    held_until=None,
                    updated_at=now(),
                    **values,
                )
            ).rowcount
            if not done:
                raise _Stale(f"task {task_id} changed while reviewing; reload it")
            record(
                conn,
                task,
                actor,
                action,
                task.stage,
                stage_to,
                revision + 1,
                task.boxes,
                new_labels,
                comment=comment,
            )
    except _Stale as stale:
        raise _refuse(store, actor, task_id, str(stale), labels) from None
    return view(store, actor, task_id)


def _check_comment(comment: dict, task, project: Project, actor: Actor) -> dict:
    box = comment.get("box")
    if box is not None:
        (checked,) = check_labels([{"box": box, "cls": 0}], 1, task.width, task.height)
        box = checked["box"]
    text = str(comment["text"]).strip()
    if len(text) > 2000:
        raise LabelError("a comment may hold at most 2000 characters")
    return {
        "text": text,
        "box": box,
        "by": actor.name,
        "at": now().isoformat(),
        "stage": project.stages[task.stage],
    }


def release(store: LabelStore, actor: Actor, task_id: int, user: str | None = None) -> None:
    """Give up a first-stage copy (one's own; a manager may release anyone's), so that
    another annotator can take the task. The copy's boxes stay in the audit trail."""
    user = user or actor.name
    require(actor, "label.annotate", "hold or release a task")
    if user != actor.name:
        require(actor, "label.manage", f"release {user}'s copy")
    with store.begin("release a task") as conn:
        task = _task(conn, task_id)
        done = conn.execute(
            update(work)
            .where(work.c.task_id == task_id, work.c.user == user, work.c.state == "draft")
            .values(state="released", updated_at=now())
        ).rowcount
        if not done:
            raise NotFoundError(f"{user} holds no draft of task {task_id}")
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(
                claims=case((tasks.c.claims > 0, tasks.c.claims - 1), else_=0),
                held_by=None,
                held_until=None,
            )
        )
        record(conn, task, actor, "release", task.stage, task.stage, None, details={"user": user})


# -- scores after a submit ----------------------------------------------------------------------

# Scoring loads cleanlab (seconds, the first time): off the request's path, one at a time.
_SCORER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yolops-label-score")


def wait_for_scores() -> None:
    """Block until the label-error scores of every submission so far are stored."""
    _SCORER.submit(lambda: None).result()


def _score_after_submit(store: LabelStore, task_id: int) -> None:
    """The likely-label-error score of a task that reached review, from its labels and
    the model's proposals (cleanlab, through the quality module). A failure here
    costs the ordering, never the submission: it is logged."""
    with store.connect("read a task") as conn:
        task = _task(conn, task_id)
        project = project_by_id(conn, task.project_id)
    if task.stage == 0 or task.proposals is None or task.boxes is None:
        return
    from yolops.label.scoring import label_error_score

    try:
        score = label_error_score(task, project)
    except Exception:  # noqa: BLE001 - ordering only; never lose the submission over it
        log.exception("could not score task %s for review", task_id)
        return
    with store.begin("score a task") as conn:
        conn.execute(update(tasks).where(tasks.c.id == task_id).values(error_score=score))


def image_of(store: LabelStore, task_id: int) -> tuple[str, str] | None:
    """``(blob, suffix)`` of a task's image in the object store; None if never stored."""
    with store.connect("read a task") as conn:
        query = select(tasks.c.blob, tasks.c.suffix).where(tasks.c.id == task_id)
        row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"no labeling task {task_id}")
    return None if row.blob is None else (row.blob, row.suffix)
