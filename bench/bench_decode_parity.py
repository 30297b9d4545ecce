"""Reduced against full JPEG decoding: do the detections and the accuracy change?

On one split of BCCD (default: the 72 test images, 640x480 JPEGs), predicts every
image twice with ONNX Runtime: decoded in full (``decode_image``, what evaluation
uses) and reduced for the model's input size (``decode_for_model``, what
``yolops predict`` and the server use; boxes mapped back to original pixels).
Reports, at ``--conf``, the share of full-decode boxes matched by a reduced-decode
box of the same class at IoU >= ``--match-iou`` and the mean IoU of the matches,
and COCO mAP of both ways against the labels (conf 0.001, as ``yolops val``).
Saves bench/results/decode_parity.json.

    .venv/bin/python bench/bench_decode_parity.py --weights best.pt [--root PATH] [--split test]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from yolops.data.dataset import load_dataset
from yolops.data.images import decode_for_model, decode_image
from yolops.detections import Detections
from yolops.infer.predictor import load_predictor
from yolops.model.boxes import box_iou
from yolops.model.evaluate import evaluate

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = Path(
    os.environ.get("YOLOPS_BCCD") or HERE.parents[1] / "shared" / "datasets" / "bccd"
)


def match(full: Detections, reduced: Detections, min_iou: float) -> list[float]:
    """IoUs of a greedy one-to-one matching (same class, best IoU first) of the two box sets."""
    if not len(full) or not len(reduced):
        return []
    iou = box_iou(torch.from_numpy(full.boxes), torch.from_numpy(reduced.boxes)).numpy()
    iou[full.classes[:, None] != reduced.classes[None, :]] = 0
    ious = []
    while iou.size and iou.max() >= min_iou:
        i, j = np.unravel_index(iou.argmax(), iou.shape)
        ious.append(float(iou[i, j]))
        iou[i, :], iou[:, j] = 0, 0
    return ious


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights", type=Path, required=True, help="a trained yolops checkpoint or ONNX file"
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--conf", type=float, default=0.25, help="score threshold of the box comparison"
    )
    parser.add_argument("--match-iou", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "decode_parity.json")
    args = parser.parse_args()
    ds = load_dataset(args.root).split(args.split)
    predictor = load_predictor(args.weights, backend="onnx", device="cpu")
    preds: dict[str, dict[str, Detections]] = {"full": {}, "reduced": {}}
    ious, full_boxes, reduced_boxes, shapes = [], 0, 0, set()
    for record in ds:
        data = Path(record.path).read_bytes()
        full_image = decode_image(data, str(record.path))
        small, size = decode_for_model(data, predictor.imgsz, str(record.path))
        shapes.add(f"{size[0]}x{size[1]} -> {small.shape[1]}x{small.shape[0]}")
        preds["full"][record.id] = predictor.predict([full_image], conf=0.001)[0]
        preds["reduced"][record.id] = predictor.predict([small], conf=0.001, original_sizes=[size])[
            0
        ]
        full, reduced = (
            p[record.id].select(p[record.id].scores >= args.conf) for p in preds.values()
        )
        full_boxes, reduced_boxes = full_boxes + len(full), reduced_boxes + len(reduced)
        ious += match(full, reduced, args.match_iou)
    metrics = {way: evaluate(ds, p) for way, p in preds.items()}
    result = {
        "benchmark": "reduced_vs_full_decode",
        "weights": str(args.weights),
        "imgsz": predictor.imgsz,
        "dataset": str(args.root),
        "split": args.split,
        "images": len(ds),
        "decoded": sorted(shapes),
        "conf": args.conf,
        "match_iou": args.match_iou,
        "boxes_full": full_boxes,
        "boxes_reduced": reduced_boxes,
        "matched_share": round(len(ious) / max(full_boxes, 1), 4),
        "matched_mean_iou": round(float(np.mean(ious)), 4) if ious else None,
        "map50_95": {way: round(m.map50_95, 4) for way, m in metrics.items()},
        "map50": {way: round(m.map50, 4) for way, m in metrics.items()},
    }
    table = Table(
        title=f"{args.split}: {len(ds)} images, {', '.join(sorted(shapes))}, "
        f"imgsz {predictor.imgsz}"
    )
    for col in ("decode", f"boxes @ {args.conf}", "mAP50-95", "mAP50"):
        table.add_column(col, justify="right")
    for way, boxes in (("full", full_boxes), ("reduced", reduced_boxes)):
        table.add_row(
            way, str(boxes), f"{result['map50_95'][way]:.4f}", f"{result['map50'][way]:.4f}"
        )
    console = Console()
    console.print(table)
    console.print(
        f"full-decode boxes matched (same class, IoU >= {args.match_iou}): "
        f"{result['matched_share']:.1%}, mean IoU of the matches {result['matched_mean_iou']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
