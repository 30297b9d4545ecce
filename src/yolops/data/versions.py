"""Dataset versions: immutable snapshots of images and boxes, named ``NAME@vN``.

    v = commit(Dataset.load("bccd/"), "bccd", "published release", workspace=ws)  # bccd@v1
    tag(ws, "bccd@v1", "approved")
    ds = Dataset.load("bccd@approved")          # every --data accepts a reference

Image bytes go to the workspace's :class:`~yolops.data.objects.ObjectStore`, once per
SHA-256. Everything else lives in the workspace database (SQLite by default,
PostgreSQL for a team), in four tables:

- ``dataset_entries``: one image as it was at some point (its id, the digest of its
  bytes, its size, its boxes, classes and attributes), stored once however many
  versions hold it; named by the digest of all of that.
- ``dataset_versions``: ``NAME``, ``N``, who, when, why, what produced it (a commit
  of a folder, a labeling export, a cleaning pass), its parent and its digest.
- ``dataset_members``: which entries a version holds, in which split.
- ``dataset_tags``: ``NAME@TAG`` -> a version; a tag can move, a version never changes.

A commit writes every new entry, the version and its members in one transaction: a
commit killed half way leaves no version (only objects nothing points at, which the
next commit of the same images reuses).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from yolops.data.objects import ObjectStore, file_digest
from yolops.data.record import DatasetParts, ImageRecord, VersionInfo
from yolops.db import database_errors, ensure_tables, get_engine, metadata
from yolops.errors import ConfigError, DatasetVersionError, UnknownDatasetError, YolopsError
from yolops.workspace import Workspace

if TYPE_CHECKING:  # commit takes a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"
_NAME = re.compile(NAME_PATTERN)
_REF = re.compile(rf"(?P<name>{NAME_PATTERN})(?:@(?P<which>[A-Za-z0-9][A-Za-z0-9._-]*))?")
_NUMBER = re.compile(r"v(\d+)")
LATEST = "latest"
RETRIES = 20  # commits to the same dataset at once that a commit outlasts
CHUNK = 500  # ids per IN (...) query: well under SQLite's parameter limit

versions_table = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(200), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("parent_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("message", Text, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("class_names", Text, nullable=False),  # JSON list
    Column("num_images", Integer, nullable=False),
    Column("num_boxes", Integer, nullable=False),
    Column("splits", Text, nullable=False),  # JSON {split: images}
    Column("produced_by", Text, nullable=False),  # JSON {"kind": ..., ...}
    UniqueConstraint("dataset", "number", name="uq_dataset_version"),
)
entries_table = Table(
    "dataset_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("image_id", Text, nullable=False),
    Column("blob", String(64), nullable=False),
    Column("suffix", String(16), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("boxes", LargeBinary, nullable=False),  # float32 (N, 4) xyxy pixels
    Column("classes", LargeBinary, nullable=False),  # int64 (N,)
    Column("attributes", Text, nullable=False),  # JSON {name: {"dtype": .., "values": [..]}}
)
members_table = Table(
    "dataset_members",
    metadata,
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("entry_id", Integer, ForeignKey("dataset_entries.id"), primary_key=True),
    Column("split", String(50), nullable=True),
)
tags_table = Table(
    "dataset_tags",
    metadata,
    Column("dataset", String(200), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Column("version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
TABLES = (versions_table, entries_table, members_table, tags_table)


@dataclass(frozen=True)
class Version:
    """One dataset version as the log shows it."""

    id: int
    dataset: str
    number: int
    digest: str
    parent: int | None  # the parent's number, in the same dataset
    message: str
    author: str
    created_at: datetime
    class_names: tuple[str, ...]
    num_images: int
    num_boxes: int
    splits: dict[str, int]
    produced_by: dict
    tags: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.dataset}@v{self.number}"


@dataclass(frozen=True)
class Stored:
    """What a commit added to the object store."""

    images: int = 0  # image files the store did not hold before
    bytes: int = 0  # their size


@dataclass(frozen=True)
class CommitResult:
    version: Version
    created: bool  # False: the contents equal the latest version's; nothing was written
    stored: Stored  # image bytes new to the object store
    new_entries: int  # images (with their boxes) no earlier version held


# -- references -----------------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME@vN`` / ``NAME@TAG`` / ``NAME`` -> (name, which); which is ``latest`` for NAME."""
    m = _REF.fullmatch(ref.strip())
    if not m:
        raise ConfigError(
            f"{ref!r} is not a dataset reference (NAME, NAME@vN or NAME@TAG; a name is "
            "letters, digits, '.', '_' and '-')"
        )
    return m["name"], m["which"] or LATEST


def looks_like_ref(text: str) -> bool:
    """Whether ``text`` has the shape of a reference (it may still name nothing)."""
    return _REF.fullmatch(text.strip()) is not None


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name == LATEST:
        raise ConfigError(
            f"{name!r} cannot name a dataset: use letters, digits, '.', '_' and '-' "
            "(at most 200, starting with a letter or digit)"
        )
    return name


def _check_tag(tag: str) -> str:
    if not _NAME.fullmatch(tag) or tag == LATEST or _NUMBER.fullmatch(tag):
        raise ConfigError(
            f"{tag!r} cannot be a tag: use letters, digits, '.', '_' and '-', and neither "
            "'latest' nor v<number> (those name versions already)"
        )
    return tag


# -- the database ---------------------------------------------------------------------------


def _engine(workspace: Workspace, reading: bool = False) -> Engine:
    """The workspace database with our tables. ``reading``: when its SQLite file does
    not exist, say there is no such dataset rather than create one (a mistyped path
    must not leave a new workspace behind)."""
    url = make_url(workspace.database_url)
    if reading and url.get_backend_name() == "sqlite" and url.database:
        if not Path(url.database).is_file():
            raise UnknownDatasetError(
                f"no dataset versions in {workspace.root} (no database {url.database} yet)"
            )
    engine = get_engine(workspace.database_url)
    ensure_tables(engine, *TABLES)
    return engine


def _store(workspace: Workspace) -> ObjectStore:
    return ObjectStore.open(workspace.object_store, cache=workspace.object_cache)


def _version(row, tags: Sequence[str] = (), parent_number: int | None = None) -> Version:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return Version(
        id=row.id,
        dataset=row.dataset,
        number=row.number,
        digest=row.digest,
        parent=parent_number,
        message=row.message,
        author=row.author,
        created_at=created,
        class_names=tuple(json.loads(row.class_names)),
        num_images=row.num_images,
        num_boxes=row.num_boxes,
        splits=json.loads(row.splits),
        produced_by=json.loads(row.produced_by),
        tags=tuple(sorted(tags)),
    )


def _versions(conn: Connection, dataset: str) -> list[Version]:
    rows = conn.execute(
        select(versions_table)
        .where(versions_table.c.dataset == dataset)
        .order_by(versions_table.c.number)
    ).all()
    numbers = {r.id: r.number for r in rows}
    tags: dict[int, list[str]] = {}
    for t in conn.execute(select(tags_table).where(tags_table.c.dataset == dataset)):
        tags.setdefault(t.version_id, []).append(t.tag)
    return [_version(r, tags.get(r.id, ()), numbers.get(r.parent_id)) for r in rows]


def list_versions(workspace: Workspace, dataset: str) -> list[Version]:
    """Every version of ``dataset``, oldest first; an error when there is none."""
    engine = _engine(workspace, reading=True)
    with database_errors(engine, f"read the versions of {dataset!r}"), engine.connect() as conn:
        found = _versions(conn, dataset)
        if not found:
            raise UnknownDatasetError(_unknown(conn, dataset, workspace))
    return found


def list_datasets(workspace: Workspace) -> list[Version]:
    """The latest version of every versioned dataset, by name."""
    engine = _engine(workspace)
    with database_errors(engine, "list the datasets"), engine.connect() as conn:
        names = conn.execute(select(versions_table.c.dataset).distinct()).scalars().all()
        return [_versions(conn, n)[-1] for n in sorted(names)]


def _unknown(conn: Connection, dataset: str, workspace: Workspace) -> str:
    names = sorted(conn.execute(select(versions_table.c.dataset).distinct()).scalars())
    known = f"; it has: {', '.join(names)}" if names else "; it has none yet (`yolops data commit`)"
    return f"no dataset named {dataset!r} in {workspace.describe()}{known}"


def resolve(workspace: Workspace, ref: str) -> Version:
    """The version ``ref`` names (``NAME@vN``, ``NAME@TAG``, ``NAME`` = latest)."""
    name, which = parse_ref(ref)
    engine = _engine(workspace, reading=True)
    with database_errors(engine, f"resolve {ref!r}"), engine.connect() as conn:
        found = _versions(conn, name)
        if not found:
            raise UnknownDatasetError(_unknown(conn, name, workspace))
    if which == LATEST:
        return found[-1]
    if m := _NUMBER.fullmatch(which):
        for v in found:
            if v.number == int(m[1]):
                return v
        raise DatasetVersionError(f"{name} has no version {which} (it has v1..v{found[-1].number})")
    for v in found:
        if which in v.tags:
            return v
    tags = sorted({t for v in found for t in v.tags})
    raise DatasetVersionError(
        f"{name} has no tag {which!r} (tags: {', '.join(tags) or 'none'}; versions "
        f"v1..v{found[-1].number})"
    )


# -- committing -----------------------------------------------------------------------------


def _array_bytes(a: np.ndarray, dtype) -> bytes:
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


def _attributes_json(record: ImageRecord) -> str:
    return json.dumps(
        {
            k: {"dtype": str(v.dtype), "values": v.tolist()}
            for k, v in sorted(record.attributes.items())
        },
        sort_keys=True,
    )


def _entry_row(record: ImageRecord, blob: str) -> dict:
    """One image as stored: everything a version needs to give it back exactly."""
    row = {
        "image_id": record.id,
        "blob": blob,
        "suffix": record.path.suffix.lower()[:16],
        "width": record.width,
        "height": record.height,
        "boxes": _array_bytes(record.boxes, np.float32),
        "classes": _array_bytes(record.classes, np.int64),
        "attributes": _attributes_json(record),
    }
    h = hashlib.sha256()
    for key in ("image_id", "blob", "suffix", "width", "height", "attributes"):
        h.update(f"{key}={row[key]}\x00".encode())
    h.update(row["boxes"])
    h.update(b"\x00")
    h.update(row["classes"])
    row["digest"] = h.hexdigest()
    return row


def version_digest(
    class_names: Sequence[str], members: Iterable[tuple[str, str, str | None]]
) -> str:
    """The digest of a version's contents: class names, and every (image id, entry
    digest, split); an entry digest covers the image's bytes, size and boxes."""
    h = hashlib.sha256()
    h.update(json.dumps(list(class_names)).encode())
    for image_id, entry, split in sorted(members):
        h.update(f"\x00{image_id}\x00{entry}\x00{split or ''}".encode())
    return h.hexdigest()


def _hash_and_store(
    records: Sequence[ImageRecord],
    store: ObjectStore,
    progress: Callable[[int, int], None] | None,
    threads: int = 4,
) -> tuple[list[str], Stored]:
    """The SHA-256 of every record's image, each stored once in ``store`` (threads:
    hashing and copying wait on the disk, and hashlib releases the GIL)."""

    def one(record: ImageRecord) -> tuple[str, int]:
        try:
            digest = file_digest(record.path)
            return digest, record.path.stat().st_size if store.put_file(record.path, digest) else -1
        except OSError as e:
            raise YolopsError(
                f"{record.path}: cannot read image {record.id!r} to commit it: {e.strerror or e}"
            ) from None

    blobs, new, size = [], 0, 0
    with ThreadPoolExecutor(threads) as pool:
        for i, (blob, stored) in enumerate(pool.map(one, records), 1):
            blobs.append(blob)
            if stored >= 0:
                new, size = new + 1, size + stored
            if progress:
                progress(i, len(records))
    return blobs, Stored(new, size)


def commit(
    dataset: Dataset,
    name: str,
    message: str,
    workspace: Workspace | None = None,
    author: str | None = None,
    produced_by: Mapping | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CommitResult:
    """Record ``dataset`` (its images' bytes, boxes, classes and splits) as the next
    version of ``name``. When nothing differs from the latest version, no version is
    made and that one is returned (``created`` False). ``produced_by`` says what made
    the data (default: a commit of ``dataset.root``)."""
    _check_name(name)
    if not message.strip():
        raise ConfigError("a commit needs a message saying what changed (-m)")
    workspace = workspace or Workspace.resolve()
    store = _store(workspace)
    records = list(dataset.records)
    split_of = {i: s for s, ids in dataset.splits.items() for i in ids}
    blobs, stored = _hash_and_store(records, store, progress)
    rows = [_entry_row(r, b) for r, b in zip(records, blobs)]
    digest = version_digest(
        dataset.class_names,
        ((r["image_id"], r["digest"], split_of.get(r["image_id"])) for r in rows),
    )
    produced = dict(produced_by or {"kind": "commit", "source": str(dataset.root or dataset.name)})
    engine = _engine(workspace)
    # Commits racing for the next number: each loss means another commit landed, so
    # N commits at once need at most N - 1 retries.
    for attempt in range(RETRIES):
        try:
            with database_errors(engine, f"commit {name!r}"), engine.begin() as conn:
                return _write_version(
                    conn,
                    _Commit(name, message.strip(), author or _user(), produced, digest, stored),
                    dataset,
                    rows,
                    split_of,
                )
        except _Raced:
            if attempt == RETRIES - 1:
                raise DatasetVersionError(
                    f"could not commit {name!r}: {RETRIES} other commits landed first; try again"
                ) from None
    raise AssertionError("unreachable")


class _Raced(Exception):
    """A concurrent commit wrote first; the transaction rolled back and is retried."""


@dataclass(frozen=True)
class _Commit:
    """What a commit says about itself, beside the data."""

    name: str
    message: str
    author: str
    produced_by: dict
    digest: str
    stored: Stored


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _write_version(
    conn: Connection,
    c: _Commit,
    dataset: Dataset,
    rows: list[dict],
    split_of: Mapping[str, str],
) -> CommitResult:
    latest = conn.execute(
        select(versions_table)
        .where(versions_table.c.dataset == c.name)
        .order_by(versions_table.c.number.desc())
        .limit(1)
    ).first()
    if latest is not None and latest.digest == c.digest:
        return CommitResult(_versions(conn, c.name)[-1], False, c.stored, 0)
    ids = _entry_ids(conn, [r["digest"] for r in rows])
    new = [r for r in rows if r["digest"] not in ids]
    try:
        for start in range(0, len(new), CHUNK):
            conn.execute(insert(entries_table), new[start : start + CHUNK])
    except IntegrityError:  # a concurrent commit stored the same image first
        raise _Raced() from None
    ids.update(_entry_ids(conn, [r["digest"] for r in new]))
    splits: dict[str, int] = {}
    for split in split_of.values():
        splits[split] = splits.get(split, 0) + 1
    number = (latest.number if latest is not None else 0) + 1
    try:
        version_id = conn.execute(
            insert(versions_table).values(
                dataset=c.name,
                number=number,
                digest=c.digest,
                parent_id=latest.id if latest is not None else None,
                message=c.message,
                author=c.author,
                created_at=datetime.now(UTC),
                class_names=json.dumps(list(dataset.class_names)),
                num_images=len(rows),
                num_boxes=dataset.num_boxes,
                splits=json.dumps(splits),
                produced_by=json.dumps(c.produced_by, default=str),
            )
        ).inserted_primary_key[0]
    except IntegrityError:  # a concurrent commit took this number first
        raise _Raced() from None
    members = [
        {
            "version_id": version_id,
            "entry_id": ids[r["digest"]],
            "split": split_of.get(r["image_id"]),
        }
        for r in rows
    ]
    for start in range(0, len(members), CHUNK * 4):
        conn.execute(insert(members_table), members[start : start + CHUNK * 4])
    return CommitResult(_versions(conn, c.name)[-1], True, c.stored, len(new))


def _entry_ids(conn: Connection, digests: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(digests), CHUNK):
        chunk = digests[start : start + CHUNK]
        query = select(entries_table.c.digest, entries_table.c.id).where(
            entries_table.c.digest.in_(chunk)
        )
        found.update((digest, id_) for digest, id_ in conn.execute(query))
    return found


# -- tags -----------------------------------------------------------------------------------


def tag(workspace: Workspace, ref: str, tag_name: str, author: str | None = None) -> Version | None:
    """Point ``NAME@tag_name`` at the version ``ref`` names; returns the version the tag
    pointed at before (None when it is new)."""
    _check_tag(tag_name)
    version = resolve(workspace, ref)
    engine = _engine(workspace)
    with database_errors(engine, f"tag {ref!r}"), engine.begin() as conn:
        before = conn.execute(
            select(tags_table.c.version_id).where(
                (tags_table.c.dataset == version.dataset) & (tags_table.c.tag == tag_name)
            )
        ).scalar()
        if before is not None:
            conn.execute(
                tags_table.delete().where(
                    (tags_table.c.dataset == version.dataset) & (tags_table.c.tag == tag_name)
                )
            )
        conn.execute(
            insert(tags_table).values(
                dataset=version.dataset,
                tag=tag_name,
                version_id=version.id,
                author=author or _user(),
                created_at=datetime.now(UTC),
            )
        )
        previous = [v for v in _versions(conn, version.dataset) if v.id == before]
    return previous[0] if previous else None


# -- reading a version back -----------------------------------------------------------------


def load_version(workspace: Workspace, ref: str) -> DatasetParts:
    """The images, boxes, classes and splits of the version ``ref`` names; image paths
    point into the object store (a local copy, for a remote store)."""
    version = resolve(workspace, ref)
    store = _store(workspace)
    engine = _engine(workspace)
    query = (
        select(entries_table, members_table.c.split)
        .join(members_table, members_table.c.entry_id == entries_table.c.id)
        .where(members_table.c.version_id == version.id)
        .order_by(entries_table.c.image_id)
    )
    records, splits, blobs = [], {}, {}
    with database_errors(engine, f"read {version.ref}"), engine.connect() as conn:
        for row in conn.execute(query):
            path = (
                store.path_in_store(row.blob, row.suffix)
                if store.local
                else store.local_path(row.blob, row.suffix)
            )
            records.append(_record(row, path))
            blobs[row.image_id] = row.blob
            if row.split is not None:
                splits.setdefault(row.split, []).append(row.image_id)
    info = VersionInfo(version.dataset, version.number, version.digest, blobs)
    return DatasetParts(records, version.class_names, splits, version.ref, None, info)


def _record(row, path: Path) -> ImageRecord:
    attrs = {
        k: np.array(v["values"], dtype=v["dtype"]) for k, v in json.loads(row.attributes).items()
    }
    return ImageRecord(
        id=row.image_id,
        path=path,
        width=row.width,
        height=row.height,
        boxes=np.frombuffer(row.boxes, np.float32).reshape(-1, 4),
        classes=np.frombuffer(row.classes, np.int64),
        attributes=attrs,
    )


def lineage(workspace: Workspace, ref: str) -> list[Version]:
    """The version ``ref`` names and its ancestors, newest first."""
    version = resolve(workspace, ref)
    by_number = {v.number: v for v in list_versions(workspace, version.dataset)}
    chain = [version]
    while chain[-1].parent is not None:
        chain.append(by_number[chain[-1].parent])
    return chain
