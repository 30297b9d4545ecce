"""Loader throughput: augmented training images per second through the input pipeline
(decode cache, mosaic, affine, flips, HSV, letterbox, collate) at imgsz 320, batch 16,
on 32 generated 640x480 JPEGs and on BCCD when it is there.

Prints the numbers and saves them to bench/results/loader.json.

    .venv/bin/python bench/bench_loader.py [--root PATH] [--samples N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from yolops.data.dataset import Dataset, ImageRecord, load_dataset
from yolops.train.augment import AugmentConfig
from yolops.train.loader import build_loader

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = Path(
    os.environ.get("YOLOPS_BCCD") or HERE.parents[1] / "shared" / "datasets" / "bccd"
)


def images_per_second(dataset: Dataset, imgsz: int, samples: int) -> tuple[float, float]:
    """(seconds to build the loader and its cache, augmented images per second)."""
    start = time.perf_counter()
    loader = build_loader(dataset, imgsz, batch_size=16, augment=AugmentConfig(), shuffle=True)
    cached = time.perf_counter() - start
    seen, epoch = 0, 0
    start = time.perf_counter()
    while seen < samples:
        loader.dataset.set_epoch(epoch)
        for batch in loader:
            seen += len(batch.image_ids)
        epoch += 1
    return cached, seen / (time.perf_counter() - start)


def generated(folder: Path) -> Dataset:
    """32 JPEGs of smooth noise (they compress like photos), 8 boxes each."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(32):
        image = cv2.resize(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8), (640, 480))
        path = folder / f"{i}.jpg"
        cv2.imwrite(str(path), image)
        xy = rng.uniform(0, [560, 400], (8, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(20, 80, (8, 2))], 1)
        records.append(ImageRecord(str(i), path, 640, 480, boxes, rng.integers(0, 3, 8)))
    return Dataset(records, ["a", "b", "c"], name="generated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--samples", type=int, default=160)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cached, speed = images_per_second(generated(Path(tmp)), 320, args.samples)
    results["generated_640x480"] = {"cache_s": round(cached, 3), "images_per_s": round(speed, 1)}
    print(f"generated 640x480 -> 320: cache {cached:.2f} s (32 images), {speed:.0f} images/s")
    if (args.root / "Annotations").is_dir():
        dataset = load_dataset(args.root)
        cached, speed = images_per_second(dataset, 320, args.samples)
        results["bccd"] = {"cache_s": round(cached, 3), "images_per_s": round(speed, 1)}
        print(f"BCCD ({len(dataset)} images) -> 320: cache {cached:.2f} s, {speed:.0f} images/s")
    else:
        print(f"BCCD not found at {args.root}; measured the generated images only", file=sys.stderr)
    out = HERE / "results" / "loader.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()}
    out.write_text(json.dumps({"benchmark": "loader", **results, **info}, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
