"""Where a workspace's labeling projects live: its database (the tables of
:mod:`yolops.label.tables`) and its object store (the images' bytes).

    studio = LabelStore(Workspace.resolve())
    with studio.begin("save a task") as conn:   # one transaction; DatabaseError on failure
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from yolops.data.objects import ObjectStore
from yolops.db import database_errors, ensure_tables, get_engine
from yolops.label.tables import TABLES
from yolops.workspace import Workspace


class LabelStore:
    """The labeling studio's handle on a workspace: database engine and object store."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.engine = get_engine(workspace.database_url)
        ensure_tables(self.engine, *TABLES)
        self.objects = ObjectStore.open(workspace.object_store, cache=workspace.object_cache)

    @contextmanager
    def begin(self, what: str) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on any error."""
        with database_errors(self.engine, what), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self, what: str) -> Iterator[Connection]:
        with database_errors(self.engine, what), self.engine.connect() as conn:
            yield conn


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
