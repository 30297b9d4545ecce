"""Run every benchmark in bench/, one after another, each in its own process.

    .venv/bin/python bench/run_all.py [--skip train ...]

Each benchmark prints its own table and saves JSON under bench/results/. Run it on an
otherwise idle machine: the timings are the point. Benchmarks that need BCCD say so
and are counted as skipped when it is absent. The long one (`bench_train.py`, a
7.5-minute training) can be left out with ``--skip train``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    benches = sorted(p for p in HERE.glob("bench_*.py"))
    names = [p.stem.removeprefix("bench_") for p in benches]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=names, help="benchmarks to leave out"
    )
    args = parser.parse_args()
    failed = []
    for path, name in zip(benches, names):
        if name in args.skip:
            continue
        print(f"\n=== {path.name}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(path)])
        print(
            f"=== {path.name}: exit {done.returncode} after {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        if done.returncode != 0:
            failed.append(path.name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
