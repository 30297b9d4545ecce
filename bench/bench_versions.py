"""Dataset versions at scale: commit a generated dataset of small images, change 1% of
it and commit again, diff the two versions, and load a version against loading the
folder it came from.

    .venv/bin/python bench/bench_versions.py [--images 100000] [--changed 1000] [--side 32]

Each commit runs in a child process so that its peak memory (ru_maxrss) is its own.
Prints a table and saves bench/results/versions.json. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CLASSES = ("a", "b", "c")


def write_dataset(root: Path, n: int, side: int, seed: int = 0) -> Path:
    """``n`` random ``side``x``side`` PNGs, each with 1-3 boxes, as a YOLO dataset."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        split = "val" if i % 10 == 0 else "train"
        write_image(root, split, i, side, rng)
    (root / "data.yaml").write_text(
        f"path: .\ntrain: images/train\nval: images/val\nnames: {json.dumps(list(CLASSES))}\n"
    )
    return root / "data.yaml"


def write_image(root: Path, split: str, i: int, side: int, rng) -> None:
    image = rng.integers(0, 255, (side, side, 3), np.uint8)
    cv2.imwrite(str(root / "images" / split / f"im{i:06d}.png"), image)
    write_labels(root, split, i, rng)


def write_labels(root: Path, split: str, i: int, rng) -> None:
    lines = []
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.3, 0.7, 2)
        w, h = rng.uniform(0.1, 0.4, 2)
        lines.append(f"{int(rng.integers(0, 3))} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    (root / "labels" / split / f"im{i:06d}.txt").write_text("\n".join(lines) + "\n")


def change(root: Path, n: int, changed: int, side: int) -> None:
    """New pixels for half of ``changed`` images, new boxes for the other half."""
    rng = np.random.default_rng(1)
    picks = rng.choice(n, changed, replace=False)
    for k, i in enumerate(picks):
        split = "val" if i % 10 == 0 else "train"
        if k % 2:
            write_image(root, split, int(i), side, rng)
        else:
            write_labels(root, split, int(i), rng)


CHILD = """
import json, resource, sys, time
from yolops.data.dataset import Dataset
from yolops.data.versions import commit
from yolops.workspace import Workspace
ws = Workspace.resolve(sys.argv[1])
start = time.perf_counter()
ds = Dataset.load(sys.argv[2])
loaded = time.perf_counter() - start
r = commit(ds, "bench", sys.argv[3], workspace=ws)
print(json.dumps({
    "ref": r.version.ref, "seconds": round(time.perf_counter() - start, 2),
    "load_s": round(loaded, 2), "stored_images": r.stored.images,
    "stored_mb": round(r.stored.bytes / 1e6, 2), "new_entries": r.new_entries,
    "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}))
"""


def commit_in_child(ws: Path, data: Path, message: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ws), str(data), message],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--keep", type=Path, default=None, help="Work here, and keep it.")
    args = parser.parse_args()

    from yolops.data.dataset import Dataset
    from yolops.data.diff import diff_datasets
    from yolops.workspace import Workspace

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-versions-"))
    data_root, ws_root = work / "data", work / "ws"
    start = time.perf_counter()
    data = write_dataset(data_root, args.images, args.side)
    generated = time.perf_counter() - start
    folder_mb = sum(p.stat().st_size for p in data_root.rglob("*") if p.is_file()) / 1e6
    first = commit_in_child(ws_root, data, "generated")
    change(data_root, args.images, args.changed, args.side)
    second = commit_in_child(ws_root, data, f"{args.changed} images changed")

    ws = Workspace.resolve(ws_root)
    v1 = Dataset.load("bench@v1", workspace=ws)
    v2 = Dataset.load("bench@v2", workspace=ws)
    diff_s, d = timed(lambda: diff_datasets(v1, v2), repeat=1)
    load_version_s, _ = timed(lambda: Dataset.load("bench@v2", workspace=ws))
    load_folder_s, _ = timed(lambda: Dataset.load(data))
    result = {
        "benchmark": "dataset_versions",
        "images": args.images,
        "changed": args.changed,
        "side": args.side,
        "generate_s": round(generated, 1),
        "folder_mb": round(folder_mb, 1),
        "commit_1": first,
        "commit_2": second,
        "diff_s": round(diff_s, 2),
        "diff": {
            "changed": len(d.changed),
            "added": len(d.added),
            "removed": len(d.removed),
            "boxes": d.box_totals(),
        },
        "load_version_s": round(load_version_s, 2),
        "load_folder_s": round(load_folder_s, 2),
        "bench_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    out = HERE / "results" / "versions.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.keep is None:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
