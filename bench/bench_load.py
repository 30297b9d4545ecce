"""Loading speed: read BCCD (Pascal VOC, 364 images, 4888 boxes) 5 times, and the
same data committed as a dataset version (``bccd@v1`` in a temporary workspace),
side by side.

Prints min and median seconds and saves them to bench/results/load.json. The first
load warms the file cache and imports; it is timed too and reported apart.

    .venv/bin/python bench/bench_load.py [--root PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from yolops.data.dataset import load_dataset
from yolops.data.versions import commit
from yolops.workspace import Workspace

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = Path(
    os.environ.get("YOLOPS_BCCD") or HERE.parents[1] / "shared" / "datasets" / "bccd"
)


def time_loads(
    root: Path | str, repeat: int, workspace: Workspace | None = None
) -> tuple[float, list[float], str]:
    """Seconds for a first (cold) load, then ``repeat`` warm loads; and the dataset's repr."""
    start = time.perf_counter()
    ds = load_dataset(root, workspace=workspace)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        ds = load_dataset(root, workspace=workspace)
        times.append(time.perf_counter() - start)
    return first, times, repr(ds)


def time_version_loads(root: Path, repeat: int) -> tuple[float, list[float], str]:
    """:func:`time_loads` of ``root`` committed as ``bccd@v1`` in a temporary workspace."""
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.resolve(tmp)
        commit(load_dataset(root), "bccd", "benchmark", workspace=ws)
        return time_loads("bccd@v1", repeat, ws)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (args.root / "Annotations").is_dir():
        print(f"BCCD not found at {args.root}; pass --root or set YOLOPS_BCCD", file=sys.stderr)
        return 2
    first, times, described = time_loads(args.root, args.repeat)
    v_first, v_times, _ = time_version_loads(args.root, args.repeat)
    result = {
        "benchmark": "load_bccd",
        "dataset": described,
        "root": str(args.root),
        "repeat": args.repeat,
        "first_s": round(first, 4),
        "min_s": round(min(times), 4),
        "median_s": round(statistics.median(times), 4),
        "times_s": [round(t, 4) for t in times],
        "version_first_s": round(v_first, 4),
        "version_min_s": round(min(v_times), 4),
        "version_median_s": round(statistics.median(v_times), 4),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    out = HERE / "results" / "load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(described)
    print(
        f"first load {first:.3f} s; warm over {args.repeat}: "
        f"min {min(times):.3f} s, median {statistics.median(times):.3f} s"
    )
    print(
        f"as the version bccd@v1: first load {v_first:.3f} s; warm over {args.repeat}: "
        f"min {min(v_times):.3f} s, median {statistics.median(v_times):.3f} s"
    )
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
