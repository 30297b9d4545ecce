"""Does an ONNX export reproduce its PyTorch checkpoint? Boxes matched one to one,
classes and scores compared, latency and (on a dataset) mAP side by side: what
`yolops export` prints and the export tests assert."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from yolops.data.dataset import Dataset
from yolops.data.images import read_image
from yolops.data.synth import SynthConfig, render_scene
from yolops.detections import Detections
from yolops.errors import ModelError
from yolops.infer.predictor import OnnxPredictor, TorchPredictor, predict_records
from yolops.model.boxes import box_iou
from yolops.model.evaluate import evaluate


def match_detections(a: Detections, b: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of two detection sets by IoU (Hungarian, class-agnostic):
    indices into ``a`` (M,), into ``b`` (M,), and their IoU (M,), pairs with IoU > 0 only."""
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros((0,), np.int64)
        return empty, empty, np.zeros((0,), np.float32)
    ious = box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).numpy()  # (Na, Nb)
    rows, cols = linear_sum_assignment(-ious)
    keep = ious[rows, cols] > 0
    return rows[keep], cols[keep], ious[rows, cols][keep]


def compare_detections(reference: Sequence[Detections], other: Sequence[Detections]) -> dict:
    """How closely ``other`` reproduces ``reference``, image by image.

    ``min_iou``: the lowest IoU of a matched pair (1.0 with no boxes); ``class_agreement``:
    the share of matched pairs with the same class; ``max_score_diff``: the largest
    score difference of a matched pair; ``unmatched``: boxes in either set left without
    a partner."""
    ious, same, diffs, unmatched = [], 0, [], 0
    for ref, oth in zip(reference, other):
        i, j, iou = match_detections(ref, oth)
        ious.extend(iou.tolist())
        same += int((ref.classes[i] == oth.classes[j]).sum())
        diffs.extend(np.abs(ref.scores[i] - oth.scores[j]).tolist())
        unmatched += len(ref) + len(oth) - 2 * len(i)
    return {
        "boxes_reference": sum(len(d) for d in reference),
        "boxes_other": sum(len(d) for d in other),
        "matched": len(ious),
        "unmatched": unmatched,
        "min_iou": min(ious, default=1.0),
        "class_agreement": same / len(ious) if ious else 1.0,
        "max_score_diff": max(diffs, default=0.0),
    }


def time_predict(predictor, image: np.ndarray, runs: int = 50, warmup: int = 5) -> float:
    """Median milliseconds of one ``predictor.predict([image])`` call (batch 1), after warmup."""
    for _ in range(warmup):
        predictor.predict([image])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor.predict([image])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def parity_report(
    checkpoint: str | Path,
    onnx_path: str | Path,
    dataset: Dataset | None = None,
    images: Sequence[np.ndarray] | None = None,
    conf: float = 0.25,
    iou: float = 0.7,
    runs: int = 50,
) -> dict:
    """Run the PyTorch checkpoint and its ONNX export on the same images and compare.

    Images: ``images``, else up to 16 of ``dataset`` (its val split when it has one),
    else 8 generated scenes. Returns :func:`compare_detections`' keys (torch is the
    reference) plus ``images`` (how many), ``images_from`` (which, in words),
    ``latency_ms`` ({"torch", "onnx"}: median of ``runs``
    whole predict calls on one image after warmup, both on the CPU) and, when
    ``dataset`` is given, ``map50_95`` and ``map50`` ({"torch", "onnx"}) on that split
    at conf 0.001. The ONNX graph must be ``raw``: an end2end graph's baked thresholds
    would make the mAP comparison meaningless.
    """
    torch_p = TorchPredictor.from_checkpoint(checkpoint, device="cpu")
    onnx_p = OnnxPredictor(onnx_path, providers=["CPUExecutionProvider"])
    if onnx_p.class_names != torch_p.class_names or onnx_p.imgsz != torch_p.imgsz:
        raise ModelError(
            f"{onnx_path}: classes/imgsz {list(onnx_p.class_names)}/{onnx_p.imgsz} differ from "
            f"{checkpoint}'s {list(torch_p.class_names)}/{torch_p.imgsz}"
        )
    split = _eval_split(dataset) if dataset is not None else None
    if images is not None:
        images = list(images)
        images_from = f"{len(images)} given images"
    elif split is not None:
        images = [read_image(r.path) for r in split.records[:16]]
        part = "val split" if "val" in dataset.splits else "images"
        images_from = f"the first {len(images)} images of {dataset.name}'s {part}"
    else:
        images = _scenes(8)
        images_from = f"{len(images)} generated scenes (no dataset given)"
    reference = torch_p.predict(images, conf=conf, iou=iou)
    report = {
        "images": len(images),
        "images_from": images_from,
        **compare_detections(reference, onnx_p.predict(images, conf=conf, iou=iou)),
    }
    report["latency_ms"] = {
        "torch": time_predict(torch_p, images[0], runs),
        "onnx": time_predict(onnx_p, images[0], runs),
    }
    if split is not None:
        if onnx_p.kind != "raw":
            raise ModelError(
                f"{onnx_path}: mAP parity needs a raw graph, this one is {onnx_p.kind}"
            )
        scores = {name: _map(p, split) for name, p in (("torch", torch_p), ("onnx", onnx_p))}
        report["map50_95"] = {k: v[0] for k, v in scores.items()}
        report["map50"] = {k: v[1] for k, v in scores.items()}
    return report


def _eval_split(dataset: Dataset) -> Dataset:
    return dataset.split("val") if "val" in dataset.splits else dataset


def _scenes(n: int) -> list[np.ndarray]:
    config = SynthConfig()
    return [
        render_scene(np.random.default_rng([7, i]), 320 + 32 * i, 240, config).image
        for i in range(n)
    ]


def _map(predictor, split: Dataset, batch: int = 8) -> tuple[float, float]:
    result = evaluate(split, predict_records(predictor, split, conf=0.001, batch=batch))
    return result.map50_95, result.map50
