"""The prediction log: rows with metadata and image statistics, sampled images,
and writes that never block or fail a request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from yolops.data.image_stats import image_statistics
from yolops.detections import Detections
from yolops.monitor.log import LogEntry, PredictionLog, read_predictions

from serve_support import encode, files, scene, wait_for


def wait_for_rows(url: str, n: int, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = read_predictions(url)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def entry(value: int = 100, name: str = "x.png") -> LogEntry:
    img = np.full((40, 60, 3), value, np.uint8)
    dets = Detections([[1, 2, 10, 20], [3, 3, 9, 9]], [0.9, 0.4], [1, 0], ("cat", "dog"))
    return LogEntry("req1", "m", "v1", 12.5, name, 60, 40, image_statistics(img), dets, encode(img))


def test_statistics_of_known_images():
    flat = np.full((100, 100, 3), 80, np.uint8)
    s = image_statistics(flat)
    assert s["brightness"] == pytest.approx(80, abs=0.5) and s["contrast"] == pytest.approx(
        0, abs=1e-6
    )
    assert s["sharpness"] == pytest.approx(0, abs=1e-6)
    checker = (np.indices((100, 100)).sum(0) % 2 * 255).astype(np.uint8)
    sharp = image_statistics(np.dstack([checker] * 3))
    blurred = image_statistics(np.dstack([cv2.GaussianBlur(checker, (9, 9), 3)] * 3))
    assert sharp["contrast"] == pytest.approx(127.5, abs=1)
    assert sharp["sharpness"] > 10 * blurred["sharpness"]
    big = image_statistics(np.full((2000, 3000, 3), 200, np.uint8))  # downscaled, same answer
    assert big["brightness"] == pytest.approx(200, abs=0.5)


def test_rows_and_samples_are_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    plog = PredictionLog(url, tmp_path / "samples", sample_rate=1.0)
    plog.start()
    plog.record(entry(100, "a.png"))
    plog.record(entry(30, "b.png"))
    plog.close()
    rows = read_predictions(url)
    assert [(r["image_name"], r["width"], r["height"], r["num_boxes"]) for r in rows] == [
        ("a.png", 60, 40, 2),
        ("b.png", 60, 40, 2),
    ]
    assert rows[0]["classes"] == ["dog", "cat"] and rows[0]["scores"] == pytest.approx([0.9, 0.4])
    assert rows[0]["brightness"] == pytest.approx(100, abs=0.5) and rows[1][
        "brightness"
    ] == pytest.approx(30, abs=0.5)
    assert rows[0]["model_version"] == "v1" and rows[0]["latency_ms"] == 12.5
    for r in rows:
        saved = Path(r["sample_path"])
        assert saved.suffix == ".png" and saved.read_bytes() == encode(
            np.full((40, 60, 3), 100 if r["image_name"] == "a.png" else 30, np.uint8)
        )


def test_sample_rate_zero_saves_nothing_and_partial_rate_saves_some(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    plog = PredictionLog(url, tmp_path / "samples", sample_rate=0.3, seed=0)
    plog.start()
    for _ in range(100):
        plog.record(entry())
    plog.close()
    saved = [r for r in read_predictions(url) if r["sample_path"]]
    assert 15 <= len(saved) <= 45
    assert len(list((tmp_path / "samples").rglob("*.png"))) == len(saved)
    none = PredictionLog(f"sqlite:///{tmp_path / 'db2.sqlite'}", tmp_path / "none", sample_rate=0.0)
    none.start()
    none.record(entry())
    none.close()
    assert read_predictions(none.url)[0]["sample_path"] is None and not (tmp_path / "none").exists()


def test_uncertain_images_are_always_saved(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    plog = PredictionLog(url, tmp_path / "samples", sample_rate=0.0, uncertain_below=0.5)
    plog.start()
    img = np.full((40, 60, 3), 90, np.uint8)
    for name, scores in (
        ("sure.png", [0.9, 0.8]),
        ("half.png", [0.9, 0.4]),
        ("unsure.png", [0.3, 0.45, 0.9]),
        ("empty.png", []),
    ):
        dets = Detections(
            np.tile([[1, 2, 10, 20]], (len(scores), 1)), scores, [0] * len(scores), ("cat",)
        )
        plog.record(
            LogEntry("r", "m", "v1", 1.0, name, 60, 40, image_statistics(img), dets, encode(img))
        )
    plog.close()
    saved = {r["image_name"]: r["sample_path"] for r in read_predictions(url)}
    assert [n for n, p in saved.items() if p] == ["unsure.png"]  # most of its boxes below 0.5
    assert len(saved) == 4 and len(list((tmp_path / "samples").rglob("*.png"))) == 1


def test_full_queue_drops_without_blocking(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    dropped = []
    plog = PredictionLog(
        url, max_queue=5, on_drop=lambda: dropped.append(1)
    )  # not started: nothing drains
    # A record that blocked would never return (nothing drains): run them on a thread.
    recording = threading.Thread(target=lambda: [plog.record(entry()) for _ in range(50)])
    recording.start()
    recording.join(60)
    assert not recording.is_alive(), "record() blocked on a full queue"
    assert len(dropped) == 45 and plog.dropped == 45


def test_queued_bytes_are_bounded(tmp_path):
    one = entry()
    size = 1024 + len(one.data)  # sampled: the row and the encoded image wait in the queue
    plog = PredictionLog(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path / "samples",
        sample_rate=1.0,
        max_queue_bytes=3 * size,
    )  # not started
    for _ in range(10):
        plog.record(entry())
    assert plog.dropped == 7
    plog.start()
    plog.close()
    assert len(read_predictions(plog.url)) == 3
    plog2 = PredictionLog(plog.url, tmp_path / "samples", sample_rate=1.0, max_queue_bytes=3 * size)
    plog2.start()
    for i in range(20):  # drained as it goes: the bound is on what waits, not on what was logged
        plog2.record(entry())
        wait_for(lambda i=i: plog2.written > i, f"entry {i + 1} written")
    plog2.close()
    assert plog2.dropped == 0 and len(read_predictions(plog.url)) == 23


def test_a_failing_database_loses_entries_not_requests(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the database folder should be")
    dropped = []
    plog = PredictionLog(
        f"sqlite:///{blocker / 'sub' / 'db.sqlite'}", on_drop=lambda: dropped.append(1)
    )
    plog.start()
    plog.record(entry())
    plog.close()
    assert dropped == [1] and plog.alive is False


def test_the_server_logs_every_image(serve, keys, db_url, tmp_path):
    with serve(log_sample_rate=1.0) as server:
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        # The last one is decoded at 1/4 scale for the 128 px model; it is logged at its own size.
        images = [
            encode(scene(160, 120, 0)),
            encode(scene(96, 64, 1), "JPEG"),
            encode(scene(640, 480, 2), "JPEG"),
        ]
        r = c.post("/v1/predict", files=files(*images), params={"conf": 0.01})
        assert r.status_code == 200
        rows = wait_for_rows(db_url, 3)
    answer = r.json()
    assert [(x["width"], x["height"]) for x in rows] == [(160, 120), (96, 64), (640, 480)]
    assert 0 < rows[2]["brightness"] < 255 and rows[2]["sharpness"] > 0
    assert {x["model_version"] for x in rows} == {answer["model"]["version"]}
    assert rows[0]["request_id"] == rows[1]["request_id"]
    assert rows[0]["classes"] == [d["class_name"] for d in answer["results"][0]["detections"]]
    assert (
        rows[0]["latency_ms"] > 0 and 0 < rows[0]["brightness"] < 255 and rows[0]["sharpness"] > 0
    )
    assert Path(rows[1]["sample_path"]).read_bytes() == images[1]
    assert Path(rows[1]["sample_path"]).is_relative_to(tmp_path / "ws" / "samples")
