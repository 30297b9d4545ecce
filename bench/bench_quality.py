"""Quality gate speed: validate BCCD (364 images, 4886 boxes) without label-error training.

Times loading plus ``validate_dataset`` (every image read, hashed and measured; all
checks) ``--repeat`` times, then writing the HTML report once; with ``--cleanvision``
also validation with cleanvision as the image checker. Prints the seconds and saves
them to bench/results/quality.json.

    .venv/bin/python bench/bench_quality.py [--root PATH] [--repeat N] [--cleanvision]
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
from yolops.quality import QualityConfig, validate_dataset, write_html

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = Path(
    os.environ.get("YOLOPS_BCCD") or HERE.parents[1] / "shared" / "datasets" / "bccd"
)


def time_validation(root: Path, config: QualityConfig) -> tuple[float, dict]:
    """Seconds to load and validate, and the report."""
    start = time.perf_counter()
    report = validate_dataset(load_dataset(root), config=config)
    return time.perf_counter() - start, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cleanvision", action="store_true", help="also time cleanvision as the image checker"
    )
    args = parser.parse_args()
    if not (args.root / "Annotations").is_dir():
        print(f"BCCD not found at {args.root}; pass --root or set YOLOPS_BCCD", file=sys.stderr)
        return 2
    runs = [time_validation(args.root, QualityConfig()) for _ in range(args.repeat)]
    times = [t for t, _ in runs]
    report = runs[-1][1]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        page = write_html(report, Path(tmp) / "report.html")
        html_s, html_mb = time.perf_counter() - start, page.stat().st_size / 1e6
    result = {
        "benchmark": "validate_bccd",
        "root": str(args.root),
        "images": len(report.dataset),
        "boxes": report.dataset.num_boxes,
        "repeat": args.repeat,
        "first_s": round(times[0], 3),
        "min_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
        "stages_s": {k: round(v, 3) for k, v in report.seconds.items()},
        "html_s": round(html_s, 3),
        "html_mb": round(html_mb, 2),
        "counts_by_code": report.counts_by_code(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    if args.cleanvision:
        result["cleanvision_s"] = round(
            time_validation(args.root, QualityConfig(image_checker="cleanvision"))[0], 3
        )
    out = HERE / "results" / "quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in report.seconds.items())
    print(
        f"validate BCCD ({result['images']} images, {result['boxes']} boxes), load included: "
        f"first {times[0]:.2f} s, min {min(times):.2f} s, median {statistics.median(times):.2f} s"
    )
    print(f"  last run by stage: {stages}")
    print(f"  HTML report: {html_s:.2f} s, {html_mb:.1f} MB")
    if args.cleanvision:
        print(f"  with cleanvision as the image checker: {result['cleanvision_s']:.2f} s")
    print(f"  found: {result['counts_by_code']}")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
