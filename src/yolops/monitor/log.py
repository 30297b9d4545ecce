"""The prediction log: one row per served image in the workspace database, and a
sample of images saved for labeling.

Rows hold the time, request id, model name and version, the request's latency, the
image's size and statistics (brightness, contrast, sharpness) and the predicted
classes and confidences: what drift monitoring compares against the reference
statistics of the training data.

Writes never block or fail a request: :meth:`PredictionLog.record` only puts the
entry on a queue bounded in entries and in bytes (a full queue drops the entry and
counts the drop, so a slow database can never eat the server's memory); one
background thread saves sampled images and inserts rows in small transactions.
An image is saved for labeling when drawn at ``sample_rate``, and always when most
of its boxes score below ``uncertain_below`` (0: off), the images a model learns
most from. Entries carry statistics, never pixels: the server computes them (about a
millisecond) while it decodes the image. A failing database loses entries (counted and logged),
never requests.

    log = PredictionLog("sqlite:///yolops-workspace/yolops.db", samples_dir, sample_rate=0.05)
    log.start()
    log.record(LogEntry(...))
    read_predictions("sqlite:///...", since=datetime(...))   # list of dicts
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Float, Integer, String, Table, Text, insert, select

from yolops.data.image_stats import STATS
from yolops.db import ensure_tables, get_engine, metadata
from yolops.detections import Detections

log = logging.getLogger(__name__)

predictions = Table(
    "predictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False, index=True),
    Column("request_id", String(32), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("image_name", String(200), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("brightness", Float, nullable=False),
    Column("contrast", Float, nullable=False),
    Column("sharpness", Float, nullable=False),
    Column("num_boxes", Integer, nullable=False),
    Column("classes", Text, nullable=False),  # JSON list of class names, one per box
    Column("scores", Text, nullable=False),  # JSON list of confidences, one per box
    Column("sample_path", Text, nullable=True),  # the image saved for labeling, when sampled
)


@dataclass(frozen=True, eq=False)
class LogEntry:
    """One served image. ``stats`` is :func:`image_statistics` of it, computed where the
    image was decoded so that the queue never holds pixels; ``data`` (the encoded
    image as sent) is kept only when the image is sampled for labeling."""

    request_id: str
    model_name: str
    model_version: str
    latency_ms: float
    image_name: str
    width: int
    height: int
    stats: dict[str, float]
    detections: Detections = field(repr=False)
    data: bytes | None = field(default=None, repr=False)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


class PredictionLog:
    """Appends :class:`LogEntry` rows from a background thread; see the module docstring.
    ``on_drop`` is called once per entry lost (for a metric)."""

    def __init__(
        self,
        url: str,
        samples_dir: str | Path | None = None,
        sample_rate: float = 0.0,
        max_queue: int = 1000,
        on_drop: Callable[[], None] | None = None,
        seed: int | None = None,
        batch_size: int = 64,
        max_queue_bytes: int = 256 * 1024 * 1024,
        uncertain_below: float = 0.0,
    ):
        self.url = url
        self.samples_dir = Path(samples_dir) if samples_dir else None
        self.sample_rate = sample_rate if self.samples_dir else 0.0
        self.uncertain_below = uncertain_below if self.samples_dir else 0.0
        self.on_drop = on_drop or (lambda: None)
        self.batch_size = batch_size
        self.max_queue_bytes = max_queue_bytes
        self.dropped = 0
        self.written = 0
        self._queued_bytes = 0
        self._bytes_lock = threading.Lock()
        self._queue: queue.Queue[LogEntry | None] = queue.Queue(maxsize=max_queue)
        self._random = random.Random(seed)
        self._thread: threading.Thread | None = None
        self._engine = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="yolops-prediction-log", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def record(self, entry: LogEntry) -> None:
        """Queue ``entry`` (its image bytes dropped unless sampled); never blocks, never raises."""
        sampled = (
            self.sample_rate > 0 and self._random.random() < self.sample_rate
        ) or self._uncertain(entry)
        if entry.data is not None and not sampled:
            entry = dataclasses.replace(entry, data=None)
        size = _size(entry)
        with self._bytes_lock:
            if self._queued_bytes + size > self.max_queue_bytes:
                self._drop(1)
                return
            self._queued_bytes += size
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._release(size)
            self._drop(1)

    def _uncertain(self, entry: LogEntry) -> bool:
        """Most of the image's boxes score below ``uncertain_below``: worth labeling."""
        scores = entry.detections.scores
        return (
            self.uncertain_below > 0
            and len(scores) > 0
            and (scores < self.uncertain_below).mean() > 0.5
        )

    def _release(self, size: int) -> None:
        with self._bytes_lock:
            self._queued_bytes -= size

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (within ``timeout`` seconds), then stop the thread."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _drop(self, n: int) -> None:
        self.dropped += n
        for _ in range(n):
            self.on_drop()

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            batch = [entry]
            while len(batch) < self.batch_size:  # what else is already waiting, in one transaction
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._write(batch)
                    return
                batch.append(more)
            self._write(batch)

    def _write(self, batch: list[LogEntry]) -> None:
        self._release(sum(_size(e) for e in batch))
        try:
            rows = [self._row(e) for e in batch]
            if self._engine is None:
                self._engine = get_engine(self.url)
                ensure_tables(self._engine, predictions)
            with self._engine.begin() as conn:
                conn.execute(insert(predictions), rows)
            self.written += len(rows)
        except Exception as e:  # the log must never take the server down
            log.error(
                "prediction log: %d entries lost: %s", len(batch), str(e).splitlines()[0][:300]
            )
            self._drop(len(batch))

    def _row(self, e: LogEntry) -> dict:
        names = [
            e.detections.class_names[c] if 0 <= c < len(e.detections.class_names) else str(c)
            for c in e.detections.classes.tolist()
        ]
        return {
            "time": e.time,
            "request_id": e.request_id,
            "model_name": e.model_name,
            "model_version": e.model_version,
            "latency_ms": float(e.latency_ms),
            "image_name": e.image_name[:200],
            "width": int(e.width),
            "height": int(e.height),
            **{k: float(e.stats[k]) for k in STATS},
            "num_boxes": len(e.detections),
            "classes": json.dumps(names),
            "scores": json.dumps([round(s, 5) for s in e.detections.scores.tolist()]),
            "sample_path": self._maybe_sample(e),
        }

    def _maybe_sample(self, e: LogEntry) -> str | None:
        if e.data is None or self.samples_dir is None:
            return None
        day = e.time.strftime("%Y-%m-%d")
        folder = self.samples_dir / day
        folder.mkdir(parents=True, exist_ok=True)
        # The bytes as sent, so labelers see exactly what the model saw.
        path = folder / f"{e.request_id}-{uuid.uuid4().hex[:8]}{_suffix(e.data)}"
        path.write_bytes(e.data)
        return str(path)


def _size(entry: LogEntry) -> int:
    return 1024 + len(entry.data or b"")  # a row's own size, roughly, plus a sampled image


def _suffix(data: bytes) -> str:
    signatures = {
        b"\xff\xd8": ".jpg",
        b"\x89PNG": ".png",
        b"BM": ".bmp",
        b"RIFF": ".webp",
        b"II*\x00": ".tif",
        b"MM\x00*": ".tif",
    }
    return next((s for sig, s in signatures.items() if data.startswith(sig)), ".img")


def read_predictions(
    url: str,
    since: datetime | None = None,
    limit: int | None = None,
    until: datetime | None = None,
    model_name: str | None = None,
) -> list[dict]:
    """Logged rows, oldest first: only rows at or after ``since`` and before
    ``until``, and of the model ``model_name``, when given."""
    engine = get_engine(url)
    ensure_tables(engine, predictions)
    query = select(predictions).order_by(predictions.c.id)
    if since is not None:
        query = query.where(predictions.c.time >= since)
    if until is not None:
        query = query.where(predictions.c.time < until)
    if model_name is not None:
        query = query.where(predictions.c.model_name == model_name)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        r["classes"] = json.loads(r["classes"])
        r["scores"] = json.loads(r["scores"])
        if r["time"].tzinfo is None:  # SQLite keeps no zone; rows are written in UTC
            r["time"] = r["time"].replace(tzinfo=UTC)
    return rows
