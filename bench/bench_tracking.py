"""Tracking overhead: the same tiny training untracked and tracked (embedded store).

Trains yolops-n on generated shapes twice per repeat, once without and once with
the MLflow tracker (order alternated between repeats), and reports:

- per-epoch wall time (from the trainer's own clock, epochs 2.. so start-up is out),
  tracked / untracked as a ratio;
- the time spent inside the tracker per epoch (its ``on_epoch_end``: logging every
  metric of the epoch), as a share of the untracked epoch;
- the one-off costs: creating the run (params, tags) and finishing it (artifacts,
  ONNX export, pyfunc model logging).

Prints a Rich table and saves bench/results/tracking.json.

    .venv/bin/python bench/bench_tracking.py [--epochs 6] [--images 32] [--imgsz 128] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from yolops._version import __version__
from yolops.data.synth import SynthConfig, generate
from yolops.track.tracking import MLflowTracker
from yolops.train.config import TrainConfig
from yolops.train.trainer import TrainCallback, train
from yolops.workspace import Workspace

HERE = Path(__file__).resolve().parent
LOCK = Path(
    "/tmp/yolops-bench.lock"
)  # tells the others sharing this machine that timings are being taken


class TimedTracker(TrainCallback):
    """Wraps a tracker and clocks each of its events."""

    def __init__(self, inner: MLflowTracker):
        self.inner = inner
        self.start_s = 0.0
        self.epoch_s: list[float] = []
        self.end_s = 0.0

    def on_train_start(self, run_dir, config, info):
        t = time.perf_counter()
        self.inner.on_train_start(run_dir, config, info)
        self.start_s = time.perf_counter() - t

    def on_epoch_end(self, epoch, metrics):
        t = time.perf_counter()
        self.inner.on_epoch_end(epoch, metrics)
        self.epoch_s.append(time.perf_counter() - t)

    def on_train_end(self, result):
        t = time.perf_counter()
        self.inner.on_train_end(result)
        self.end_s = time.perf_counter() - t


def epoch_seconds(history: list[dict]) -> list[float]:
    """Wall seconds of each epoch after the first, from the trainer's clock."""
    times = [h["time"] for h in history]
    return [b - a for a, b in zip(times, times[1:])]


def run_once(tracked: bool, dataset, root: Path, args, index: int) -> dict:
    ws = Workspace.resolve(root / "ws", tracking_uri=None)
    config = TrainConfig(
        scale="n",
        imgsz=args.imgsz,
        epochs=args.epochs,
        batch=8,
        project=str(root / "runs"),
        name=f"{'tracked' if tracked else 'plain'}-{index}",
        warmup=0.1,
        close_mosaic=0.3,
        threads=args.threads,
    )
    timer = TimedTracker(MLflowTracker(ws, console=Console(quiet=True))) if tracked else None
    start = time.perf_counter()
    result = train(
        config, dataset=dataset, callbacks=[timer] if timer else [], console=Console(quiet=True)
    )
    total = time.perf_counter() - start
    out = {"tracked": tracked, "total_s": total, "epoch_s": epoch_seconds(result.history)}
    if timer:
        assert timer.inner.failure is None, timer.inner.failure
        out.update(start_s=timer.start_s, tracker_epoch_s=timer.epoch_s, end_s=timer.end_s)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "tracking.json")
    args = parser.parse_args()
    console = Console()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = generate(
            root / "data",
            SynthConfig(
                num_images=args.images,
                image_size=(160, 120),
                max_objects=3,
                min_size=16,
                max_size=48,
                splits={"train": 0.75, "val": 0.25},
                seed=0,
            ),
        )
        Workspace.resolve(
            root / "ws", tracking_uri=None
        ).prepare()  # the store's one-off creation is not timed
        for i in range(args.repeats):
            for tracked in (False, True) if i % 2 == 0 else (True, False):
                console.print(
                    f"repeat {i + 1}/{args.repeats}: {'tracked' if tracked else 'untracked'} …"
                )
                runs.append(run_once(tracked, dataset, root, args, i))
    plain = [s for r in runs if not r["tracked"] for s in r["epoch_s"]]
    tracked = [s for r in runs if r["tracked"] for s in r["epoch_s"]]
    in_tracker = [s for r in runs if r["tracked"] for s in r["tracker_epoch_s"]]
    summary = {
        "untracked_epoch_s": statistics.median(plain),
        "tracked_epoch_s": statistics.median(tracked),
        "epoch_ratio": statistics.median(tracked) / statistics.median(plain),
        "tracker_per_epoch_s": statistics.median(in_tracker),
        "tracker_per_epoch_share": statistics.median(in_tracker) / statistics.median(plain),
        "run_start_s": statistics.median(r["start_s"] for r in runs if r["tracked"]),
        "run_end_s": statistics.median(r["end_s"] for r in runs if r["tracked"]),
        "total_ratio": statistics.median(r["total_s"] for r in runs if r["tracked"])
        / statistics.median(r["total_s"] for r in runs if not r["tracked"]),
    }
    table = Table(
        title=f"Tracking overhead, embedded store ({args.epochs} epochs, {args.images} images, "
        f"imgsz {args.imgsz}, yolops-n, median of {args.repeats} repeats)",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in summary.items():
        table.add_row(k, f"{v:.4f}" if "ratio" in k or "share" in k else f"{v:.3f} s")
    console.print(table)
    result = {
        "yolops": __version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "summary": summary,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"saved {args.out}")
    return 0


def locked_main() -> int:
    while LOCK.exists():  # another benchmark is timing; wait for it
        time.sleep(10)
    LOCK.write_text(f"bench_tracking.py {time.ctime()}\n")
    # A `timeout` or kill sends SIGTERM: exit through the finally below so the lock goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return main()
    finally:
        LOCK.unlink(missing_ok=True)


if __name__ == "__main__":
    raise SystemExit(locked_main())
