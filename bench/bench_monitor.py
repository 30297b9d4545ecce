"""How long one `yolops monitor` pass takes over a busy window of the prediction log.

Writes ``--rows`` prediction-log rows (a day of traffic at ~1 image/s is 86,400) into
a fresh SQLite database in one transaction, half like the reference and half with
darker images and less confident boxes, then times the three parts of a pass:
reading the window (SQL and JSON decoding), the drift checks and per-image flags,
and the HTML report. A reference of 1,000 images and 500 predicted validation
images, the size registration builds, stands in for a registered version's.

    .venv/bin/python bench/bench_monitor.py [--rows 100000]

Prints a Rich table and saves bench/results/monitor.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from yolops._version import __version__
from yolops.db import ensure_tables, get_engine
from yolops.monitor.drift import check_window
from yolops.monitor.log import predictions, read_predictions
from yolops.monitor.report import render_monitor_html
from yolops.track.reference import Reference

CLASSES = ("RBC", "WBC", "Platelets")
HERE = Path(__file__).resolve().parent


def detections(rng: np.random.Generator, n: int, confident: float) -> list[tuple[str, float]]:
    scores = np.where(
        rng.random(n) < confident, rng.uniform(0.6, 0.95, n), rng.uniform(0.25, 0.5, n)
    )
    names = rng.choice(CLASSES, n, p=(0.8, 0.1, 0.1))
    return list(zip(names.tolist(), scores.round(4).tolist()))


def make_reference(rng: np.random.Generator) -> Reference:
    n = 1000
    inputs = {
        "brightness": rng.normal(180, 8, n).tolist(),
        "contrast": rng.normal(40, 4, n).tolist(),
        "sharpness": rng.normal(300, 40, n).tolist(),
        "width": [640.0] * n,
        "height": [480.0] * n,
    }
    return Reference(
        "bccd",
        "1",
        "bccd",
        "hash",
        CLASSES,
        inputs,
        [detections(rng, int(rng.integers(10, 30)), 0.85) for _ in range(500)],
    )


def make_rows(rng: np.random.Generator, n: int, end: datetime) -> list[dict]:
    rows = []
    for i in range(n):
        drifted = i >= n // 2
        dets = detections(rng, int(rng.integers(10, 30)), 0.6 if drifted else 0.85)
        rows.append(
            {
                "time": end - timedelta(seconds=(n - i) * 86400 / n),
                "request_id": f"{i:016x}",
                "model_name": "bccd",
                "model_version": "1",
                "latency_ms": 5.0,
                "image_name": "frame.jpg",
                "width": 640,
                "height": 480,
                "brightness": float(rng.normal(120 if drifted else 180, 8)),
                "contrast": float(rng.normal(40, 4)),
                "sharpness": float(rng.normal(300, 40)),
                "num_boxes": len(dets),
                "classes": json.dumps([c for c, _ in dets]),
                "scores": json.dumps([s for _, s in dets]),
                "sample_path": None,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "monitor.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    end = datetime.now(UTC)
    reference = make_reference(rng)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'yolops.db'}"
        engine = get_engine(url)
        ensure_tables(engine, predictions)
        with engine.begin() as conn:
            conn.execute(insert(predictions), make_rows(rng, args.rows, end))
        t0 = time.perf_counter()
        rows = read_predictions(
            url, since=end - timedelta(days=1), until=end + timedelta(seconds=1), model_name="bccd"
        )
        t1 = time.perf_counter()
        report = check_window(reference, rows, end - timedelta(days=1), end)
        t2 = time.perf_counter()
        page = render_monitor_html(report)
        t3 = time.perf_counter()
    result = {
        "yolops": __version__,
        "python": platform.python_version(),
        "rows": len(rows),
        "boxes": sum(len(r["scores"]) for r in rows),
        "read_s": round(t1 - t0, 2),
        "check_s": round(t2 - t1, 2),
        "html_s": round(t3 - t2, 2),
        "total_s": round(t3 - t0, 2),
        "html_kb": len(page) // 1024,
        "status": report.status,
        "drifted": [f.feature for f in report.drifted],
        "flagged": len(report.flagged),
    }
    table = Table(
        title=f"One monitoring pass over {len(rows):,} logged images ({result['boxes']:,} boxes)",
        title_justify="left",
    )
    for col in ("read window", "drift checks + flags", "HTML report", "total", "verdict"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{result['read_s']:.2f} s",
        f"{result['check_s']:.2f} s",
        f"{result['html_s']:.2f} s",
        f"{result['total_s']:.2f} s",
        f"{report.status}: {', '.join(result['drifted'])}",
    )
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"Saved {args.out}")
    return 0 if report.status == "alert" else 1  # half the window was made to drift


if __name__ == "__main__":
    raise SystemExit(main())
