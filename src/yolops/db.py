"""The workspace database: one SQLAlchemy engine per URL, and our tables' metadata.

SQLite in the workspace by default (WAL, so a server reads API keys while
`yolops keys` writes them); any SQLAlchemy URL (PostgreSQL for a team or for
replicas) otherwise. The tables are defined beside the code that owns them (API keys
and users in :mod:`yolops.identity`, the prediction log in
:mod:`yolops.monitor.log`) on the one :data:`metadata`; each store creates its tables
on first use (:func:`ensure_tables`). They are ours alone, so no migrations tool yet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from yolops.errors import ConfigError, DatabaseError

metadata = MetaData()

_engines: dict[str, Engine] = {}
_created: set[tuple[int, str]] = set()
_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """The engine for ``url`` (shared by every caller in this process)."""
    with _lock:
        if url not in _engines:
            _engines[url] = _create(url)
        return _engines[url]


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"not a database URL: {url!r} (e.g. sqlite:///path/yolops.db)") from None
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    kwargs = (
        {"connect_args": {"check_same_thread": False, "timeout": 10}}
        if sqlite
        else {"pool_pre_ping": True}
    )
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError) as e:
        raise ConfigError(f"cannot use database {parsed.render_as_string()}: {e}") from None
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def ensure_tables(engine: Engine, *tables: Table) -> None:
    """Create ``tables`` when missing; :class:`DatabaseError` when the database is unusable.
    Safe when several threads or processes race to create the same table."""
    with _lock:
        todo = [t for t in tables if (id(engine), t.name) not in _created]
        if not todo:
            return
        for attempt in range(2):
            try:
                metadata.create_all(engine, tables=todo)
                break
            except SQLAlchemyError as e:
                # Another process created it between the check and the CREATE: look again.
                if attempt == 1 or "already exists" not in str(e):
                    raise DatabaseError(
                        f"cannot open database {engine.url.render_as_string()}: {first_line(e)}"
                    ) from None
        _created.update((id(engine), t.name) for t in todo)


@contextmanager
def database_errors(engine: Engine, what: str) -> Iterator[None]:
    """Turn SQLAlchemy's errors inside the block into a :class:`DatabaseError` saying
    what could not be done, in which database."""
    try:
        yield
    except SQLAlchemyError as e:
        where = engine.url.render_as_string()  # the password stays hidden
        raise DatabaseError(f"cannot {what} in {where}: {first_line(e)}") from None


def _sqlite_pragmas(conn, _record) -> None:
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def first_line(e: Exception) -> str:
    """The first line of a database error (the driver's own message when there is one)."""
    return str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300]
