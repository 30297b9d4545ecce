"""Accuracy per CPU-second: `yolops train --time T` on BCCD, scored on its test split.

Runs the real command a user types (a subprocess, so the wall time includes start-up,
data loading, the final evaluation and plots), then reads the run folder: test
mAP50-95 and mAP50 of best.pt, epochs done, training throughput and peak memory
(from the command's own report). Prints a Rich table and saves
bench/results/train_<T>s.json.

    .venv/bin/python bench/bench_train.py [--time 450] [--imgsz 320] [--scale n] [--root PATH]

The peers (Ultralytics 8.4 default recipe, 30 epochs at imgsz 320 on the same machine
type, scored on the same test split) are in the issue: YOLOv8n 0.361, YOLO11n 0.350,
YOLO26n 0.420 mAP50-95 in 425-466 s; YOLOv8n 100 epochs 0.540 in 1453 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = Path(
    os.environ.get("YOLOPS_BCCD") or HERE.parents[1] / "shared" / "datasets" / "bccd"
)
PEERS = {
    "YOLOv8n (30 ep)": (425, 0.361, 0.578),
    "YOLO11n (30 ep)": (437, 0.350, 0.567),
    "YOLO26n (30 ep)": (466, 0.420, 0.750),
    "YOLOv8n (100 ep)": (1453, 0.540, 0.877),
}


def run_training(
    root: Path, seconds: float, imgsz: int, scale: str, project: Path, extra: list[str]
) -> tuple[float, str]:
    """Run `yolops train` to completion; returns (wall seconds, its stdout)."""
    cmd = [
        sys.executable,
        "-m",
        "yolops.cli.main",
        "train",
        "--data",
        str(root),
        "--scale",
        scale,
        "--imgsz",
        str(imgsz),
        "--time",
        str(seconds),
        "--project",
        str(project),
        "--name",
        "bench",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(
            f"training failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return wall, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", type=float, default=450.0, help="training budget in seconds")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--scale", default="n", help="model scale: n, s or m")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folder here")
    ap.add_argument("extra", nargs="*", help="more `yolops train` flags, after --")
    args = ap.parse_args()
    if not (args.root / "Annotations").is_dir():
        sys.exit(f"BCCD not found at {args.root} (set YOLOPS_BCCD)")

    project = args.keep or Path(tempfile.mkdtemp(prefix="yolops-bench-train-"))
    wall, out = run_training(args.root, args.time, args.imgsz, args.scale, project, args.extra)
    run = project / "bench"
    final = yaml.safe_load((run / "metrics_final.yaml").read_text())
    epochs = sum(1 for _ in (run / "metrics.csv").open()) - 1
    speed = re.search(r"throughput ([\d.]+) train img/s, peak memory (\d+) MB", out)
    result = {
        "budget_s": args.time,
        "wall_s": round(wall, 1),
        "imgsz": args.imgsz,
        "scale": args.scale,
        "epochs": epochs,
        "test_map50_95": final.get("test/map50_95"),
        "test_map50": final.get("test/map50"),
        "val_map50_95": final.get("val/map50_95"),
        "val_map50": final.get("val/map50"),
        "train_images_per_s": float(speed.group(1)) if speed else None,
        "peak_memory_mb": int(speed.group(2)) if speed else None,
        "extra_flags": args.extra,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "run_dir": str(run),
    }

    table = Table(
        title=f"yolops-{args.scale} on BCCD, --time {args.time:.0f}, imgsz {args.imgsz}, "
        "test split",
        title_justify="left",
    )
    for col in ("model", "wall s", "test mAP50-95", "test mAP50"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_row(
        f"[bold]yolops-{args.scale}",
        f"{wall:.0f}",
        f"[bold]{result['test_map50_95']:.3f}",
        f"{result['test_map50']:.3f}",
    )
    for name, (secs, m, m50) in PEERS.items():
        table.add_row(name, str(secs), f"{m:.3f}", f"{m50:.3f}")
    table.caption = (
        f"{epochs} epochs, {result['train_images_per_s']} train img/s, "
        f"peak memory {result['peak_memory_mb']} MB"
    )
    Console().print(table)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"train_{args.time:.0f}s.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
