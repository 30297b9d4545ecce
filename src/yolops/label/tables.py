"""The labeling studio's tables, on the workspace database's metadata.

- ``label_projects``: classes, the ordered stages, overlap (annotators per task), the
  model that pre-labels and the version it was when it last did.
- ``label_tasks``: one image each (its bytes in the object store, by SHA-256), the
  stage it is at, its labels (``boxes``) once the first stage is through, the model's
  ``proposals``, the scores that order the queues, and ``revision``, which every
  change moves on (a save naming an older revision is a conflict).
- ``label_work``: one annotator's own copy of a task's boxes at the first stage (up
  to ``overlap`` of them per task), until they submit it.
- ``label_events``: the audit trail. Append-only: who, when, which action, from and
  to which stage, the boxes before and after, the comment. A task's history replays
  from it (:func:`yolops.label.history.replay`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from yolops.db import metadata

projects = Table(
    "label_projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("classes", JSON, nullable=False),
    Column("stages", JSON, nullable=False),
    Column("overlap", Integer, nullable=False),
    Column("model", String(500), nullable=True),  # what pre-labels: NAME@ALIAS or a file
    Column("model_version", String(500), nullable=True),  # what that was when it last did
    Column("proposal_conf", Float, nullable=False),
    Column("data", String(500), nullable=True),  # the dataset it started from, if any
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tasks = Table(
    "label_tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("label_projects.id"), nullable=False),
    Column("image_id", String(1000), nullable=False),
    Column("blob", String(64), nullable=True),  # SHA-256 of the bytes in the object store
    Column("suffix", String(16), nullable=False),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("split", String(20), nullable=True),  # the split it had where it came from
    Column("origin", JSON, nullable=False),  # where it came from: {"kind", "source", ...}
    Column("state", String(16), nullable=False),  # active | done | unreadable
    Column("unreadable", Text, nullable=True),  # why, for an unreadable image
    Column("stage", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    # the task's labels once the first stage is through; those it came with (imported);
    # the model's suggestions
    Column("boxes", JSON(none_as_null=True), nullable=True),
    Column("initial", JSON(none_as_null=True), nullable=True),
    Column("proposals", JSON(none_as_null=True), nullable=True),
    Column("prelabel_model", String(500), nullable=True),
    Column("uncertainty", Float, nullable=True),  # orders the annotators' queue
    Column("error_score", Float, nullable=True),  # likely label error: orders review
    Column("agreement", Float, nullable=True),  # between overlapping annotators
    Column("claims", Integer, nullable=False),  # annotators holding a copy (<= overlap)
    Column("actors", JSON, nullable=False),  # {stage index: who moved it on there}
    Column("comments", JSON, nullable=False),  # the open comments of the last rejection
    Column("held_by", String(100), nullable=True),  # who `next` gave it to, until when
    Column("held_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "image_id", name="uq_label_task_image"),
    Index("ix_label_tasks_queue", "project_id", "state", "stage"),
)

work = Table(
    "label_work",
    metadata,
    Column("task_id", Integer, ForeignKey("label_tasks.id"), primary_key=True),
    Column("user", String(100), primary_key=True),
    Column("boxes", JSON, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # draft | submitted | released
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("proposals_total", Integer, nullable=True),
    Column("proposals_accepted", Integer, nullable=True),  # accepted unchanged
)

events = Table(
    "label_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("task_id", Integer, nullable=True),  # None: an event of the whole project
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("stage_from", Integer, nullable=True),
    Column("stage_to", Integer, nullable=True),
    Column("revision", Integer, nullable=True),  # the revision the action produced
    Column("boxes_before", JSON(none_as_null=True), nullable=True),
    Column("boxes_after", JSON(none_as_null=True), nullable=True),
    Column("comment", JSON(none_as_null=True), nullable=True),
    Column("details", JSON(none_as_null=True), nullable=True),
    Index("ix_label_events_task", "task_id", "id"),
    Index("ix_label_events_project", "project_id", "id"),
)

TABLES = (projects, tasks, work, events)
