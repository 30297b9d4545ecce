"""COCO detection metrics of predictions on a dataset, computed by faster-coco-eval.

No AP maths lives here: faster-coco-eval matches detections to ground truth and
accumulates the precision arrays; this module builds its inputs in memory, reads
its outputs, and derives the operating point (best-F1 confidence) and the
confusion matrix from its matches.

Conventions (those of COCO):

- mAP50-95 averages AP over IoU 0.50:0.05:0.95 and over the classes that have
  ground truth; a class with no ground truth has AP ``nan`` and is left out of the
  mean. With no ground truth at all every metric is ``nan``.
- At most ``max_dets`` (COCO: 100) highest-scoring detections per image and class
  count towards AP; precision, recall and the confusion matrix use every detection.
- A box whose per-box attribute ``iscrowd`` is true is a crowd region: detections
  matching it are neither true nor false positives, and it is never "missed".
- VOC ``difficult`` boxes count as ordinary ground truth (COCO has no such flag);
  drop them from the dataset first to get VOC-style scoring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster
from rich.table import Table

from yolops.data.dataset import Dataset
from yolops.detections import Detections
from yolops.errors import YolopsError

IOU_OPERATING = 0.5  # IoU of the PR curves, best-F1 point and confusion matrix
CROWD_ATTRIBUTE = "iscrowd"
# MLflow accepts only these characters in metric keys; others become "_".
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Metrics of one evaluation.

    ``per_class_ap`` / ``per_class_ap50`` map every class name to its AP50-95 / AP50
    (``nan`` without ground truth). ``precision``, ``recall`` and ``f1`` are means
    over classes with ground truth at IoU 0.5 and at ``conf_threshold``, the lowest
    score threshold that maximises the mean per-class F1 (``f1`` is that mean, not
    the F1 of mean precision and mean recall); all four are ``nan`` without ground
    truth, and without detections the three are 0 and ``conf_threshold`` is ``nan``.
    ``pr_curves`` maps each class with
    ground truth to COCO's interpolated curve at IoU 0.5: recall float64 (101,) from
    0 to 1 and precision float64 (101,), 0 past the highest recall reached.
    ``confusion`` int64 (C + 1, C + 1) counts ``[predicted, true]`` at IoU 0.5 for
    detections scoring at least ``conf_threshold`` (all of them when it is ``nan``),
    matched class-agnostically; the last row counts missed ground truth (predicted
    background) and the last column false positives (true background).
    """

    map50_95: float
    map50: float
    map75: float
    per_class_ap: dict[str, float]
    per_class_ap50: dict[str, float]
    precision: float
    recall: float
    f1: float
    conf_threshold: float
    pr_curves: dict[str, tuple[np.ndarray, np.ndarray]]
    confusion: np.ndarray
    num_images: int
    num_boxes: int
    class_names: tuple[str, ...] = field(default=())

    def to_metrics(self, prefix: str = "val/") -> dict[str, float]:
        """Flat metrics with stable keys: ``{prefix}map50_95``, ``map50``, ``map75``,
        ``precision``, ``recall``, ``f1``, ``conf_threshold``, then
        ``{prefix}ap50_95/<class>`` and ``{prefix}ap50/<class>`` per class (characters
        MLflow refuses in a key are replaced by ``_``)."""
        out = {
            f"{prefix}map50_95": self.map50_95,
            f"{prefix}map50": self.map50,
            f"{prefix}map75": self.map75,
            f"{prefix}precision": self.precision,
            f"{prefix}recall": self.recall,
            f"{prefix}f1": self.f1,
            f"{prefix}conf_threshold": self.conf_threshold,
        }
        for name, ap in self.per_class_ap.items():
            out[f"{prefix}ap50_95/{_KEY_UNSAFE.sub('_', name)}"] = ap
        for name, ap in self.per_class_ap50.items():
            out[f"{prefix}ap50/{_KEY_UNSAFE.sub('_', name)}"] = ap
        return {k: float(v) for k, v in out.items()}

    def table(self, title: str) -> Table:
        """Per-class AP50-95 and AP50, the overall scores and, in the caption, the
        precision and recall at the best-F1 threshold, for the terminal."""
        table = Table(title=title, title_justify="left")
        for col in ("class", "AP50-95", "AP50"):
            table.add_column(col, justify="right" if col != "class" else "left")
        for name, ap in self.per_class_ap.items():
            table.add_row(name, f"{ap:.3f}", f"{self.per_class_ap50.get(name, float('nan')):.3f}")
        table.add_row("[bold]all", f"[bold]{self.map50_95:.3f}", f"[bold]{self.map50:.3f}")
        table.caption = (
            f"{self.num_images} images, {self.num_boxes} boxes; at the best-F1 threshold "
            f"{self.conf_threshold:.3f}: precision {self.precision:.3f}, recall {self.recall:.3f}"
        )
        return table


def evaluate(
    dataset: Dataset,
    predictions: Mapping[str, Detections],
    iou_type: str = "bbox",
    max_dets: int = 100,
) -> EvalResult:
    """Score ``predictions`` (image id -> :class:`Detections`, xyxy pixels) against
    the boxes of every image of ``dataset``. An image without an entry has no
    detections; an entry for an image not in the dataset raises :class:`YolopsError`.
    ``max_dets`` is COCO's cap on detections per image and class for AP (100).
    """
    if iou_type != "bbox":
        raise YolopsError(f"evaluate: iou_type {iou_type!r} is not supported (only 'bbox')")
    _check_predictions(dataset, predictions)
    names, num_classes = dataset.class_names, dataset.num_classes
    gt = _coco(dataset, _ground_truth(dataset))
    detections = _detections(dataset, predictions)
    dt = _coco(dataset, detections)
    n_gt = _gt_counts(gt, num_classes)

    main = _run(gt, dt, max_dets=[1, 10, max_dets])
    main.summarize()
    stats = main.stats_as_dict
    precision = main.eval["precision"][:, :, :, 0, -1]  # (T iou, R recall, K class), area "all"
    t50 = int(np.argmin(np.abs(main.params.iouThrs - IOU_OPERATING)))
    recall_points = main.params.recThrs.astype(np.float64)

    # IoU 0.5 alone over every detection gives one-to-one matches to sweep the confidence.
    _run(gt, dt, max_dets=[len(detections) + 1], iou_thrs=[IOU_OPERATING], extra_calc=True)
    conf, p, r, f1 = _best_f1(dt, gt, n_gt, num_classes)

    return EvalResult(
        map50_95=_nan_if_missing(stats["AP_all"]),
        map50=_nan_if_missing(stats["AP_50"]),
        map75=_nan_if_missing(stats["AP_75"]),
        per_class_ap=dict(zip(names, _class_means(precision).tolist())),
        per_class_ap50=dict(zip(names, _class_means(precision[t50 : t50 + 1]).tolist())),
        precision=p,
        recall=r,
        f1=f1,
        conf_threshold=conf,
        pr_curves={
            names[k]: (recall_points, precision[t50, :, k].astype(np.float64))
            for k in range(num_classes)
            if n_gt[k] > 0
        },
        confusion=_confusion_at(dataset, gt, detections, conf),
        num_images=len(dataset),
        num_boxes=dataset.num_boxes,
        class_names=names,
    )


# -- inputs ---------------------------------------------------------------------------


def _check_predictions(dataset: Dataset, predictions: Mapping[str, Detections]) -> None:
    unknown = [i for i in predictions if i not in dataset]
    if unknown:
        raise YolopsError(
            f"evaluate: predictions name {len(unknown)} image(s) not in dataset "
            f"{dataset.name!r}: {', '.join(map(repr, unknown[:5]))}"
        )
    num_classes = dataset.num_classes
    for image_id, det in predictions.items():
        if len(det) and (det.classes.min() < 0 or det.classes.max() >= num_classes):
            raise YolopsError(
                f"evaluate: predictions for image {image_id!r} have class ids "
                f"outside 0..{num_classes - 1}"
            )
        if not (np.isfinite(det.boxes).all() and np.isfinite(det.scores).all()):
            raise YolopsError(
                f"evaluate: predictions for image {image_id!r} have non-finite boxes or scores"
            )


def _xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 4) xywh, float64 (what COCO stores)."""
    b = boxes.astype(np.float64)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def _ground_truth(dataset: Dataset) -> list[dict]:
    """COCO annotations of every box; image ``i`` of the dataset is COCO image ``i + 1``
    and class ``c`` is category ``c + 1`` (COCO ids 0 read as "unmatched")."""
    anns: list[dict] = []
    for image_index, record in enumerate(dataset.records):
        crowd = (
            record.attributes.get(CROWD_ATTRIBUTE, np.zeros(len(record))).astype(np.float64) != 0
        )
        for box, c, is_crowd in zip(
            _xywh(record.boxes).tolist(), record.classes.tolist(), crowd.tolist()
        ):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_index + 1,
                    "category_id": c + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(is_crowd),
                }
            )
    return anns


def _detections(dataset: Dataset, predictions: Mapping[str, Detections]) -> list[dict]:
    anns: list[dict] = []
    for image_index, record in enumerate(dataset.records):
        det = predictions.get(record.id)
        if det is None or len(det) == 0:
            continue
        for box, c, s in zip(_xywh(det.boxes).tolist(), det.classes.tolist(), det.scores.tolist()):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_index + 1,
                    "category_id": c + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "score": s,
                    "iscrowd": 0,
                }
            )
    return anns


def _coco(dataset: Dataset, annotations: list[dict]) -> COCO:
    """A COCO object over every image and class of ``dataset`` (ids as in
    :func:`_ground_truth`), built in memory."""
    coco = COCO()
    coco.dataset = {
        "images": [
            {"id": i + 1, "width": r.width, "height": r.height, "file_name": r.id}
            for i, r in enumerate(dataset.records)
        ],
        "categories": [{"id": c + 1, "name": n} for c, n in enumerate(dataset.class_names)],
        "annotations": annotations,
    }
    coco.createIndex()
    return coco


# -- running faster-coco-eval -----------------------------------------------------------


def _quiet(*_args, **_kwargs) -> None:
    return None


def _run(
    gt: COCO,
    dt: COCO,
    max_dets: list[int],
    iou_thrs: list[float] | None = None,
    extra_calc: bool = False,
    use_cats: bool = True,
) -> COCOeval_faster:
    """Evaluate and accumulate; with ``extra_calc`` the annotations get match flags
    (detection ``gt_id``, ground truth ``dt_id``)."""
    coco_eval = COCOeval_faster(gt, dt, "bbox", print_function=_quiet, extra_calc=extra_calc)
    p = coco_eval.params
    p.maxDets = sorted(max_dets)
    p.useCats = int(use_cats)
    if iou_thrs is not None:
        p.iouThrs = np.asarray(iou_thrs, np.float64)
        p.areaRng, p.areaRngLbl = [[0.0, 1e10]], ["all"]
    coco_eval.evaluate()
    coco_eval.accumulate()
    if extra_calc and not coco_eval.matched:  # faster-coco-eval logs the failure and goes on
        raise YolopsError("evaluate: faster-coco-eval could not match detections to ground truth")
    return coco_eval


def _nan_if_missing(value: float) -> float:
    """COCO writes -1 where a metric is undefined."""
    return float("nan") if value < 0 else float(value)


def _class_means(precision: np.ndarray) -> np.ndarray:
    """(T, R, K) precisions, -1 where undefined -> (K,) mean per class, nan if none."""
    valid = precision > -1
    total = np.where(valid, precision, 0.0).sum(axis=(0, 1))
    count = valid.sum(axis=(0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _gt_counts(gt: COCO, num_classes: int) -> np.ndarray:
    """(C,) non-crowd ground-truth boxes per class."""
    counts = np.zeros(num_classes, np.int64)
    for ann in gt.anns.values():
        if not ann["iscrowd"]:
            counts[ann["category_id"] - 1] += 1
    return counts


# -- operating point and confusion matrix -------------------------------------------


def _best_f1(
    dt: COCO, gt: COCO, n_gt: np.ndarray, num_classes: int
) -> tuple[float, float, float, float]:
    """(threshold, precision, recall, f1) at the lowest score threshold maximising the
    mean per-class F1 over classes with ground truth, from the IoU-0.5 match flags."""
    nan = float("nan")
    scores: list[list[float]] = [[] for _ in range(num_classes)]
    hits: list[list[bool]] = [[] for _ in range(num_classes)]
    for ann in dt.anns.values():
        gt_id = ann.get("gt_id")
        if gt_id is not None and gt.anns[gt_id]["iscrowd"]:
            continue  # matched a crowd region: ignored, as COCO does
        scores[ann["category_id"] - 1].append(ann["score"])
        hits[ann["category_id"] - 1].append(gt_id is not None)
    classes = np.flatnonzero(n_gt > 0)
    thresholds = np.unique(
        np.concatenate([np.asarray(s, np.float64) for s in scores] + [np.zeros(0)])
    )
    if len(classes) == 0:
        return nan, nan, nan, nan
    if len(thresholds) == 0:  # ground truth but no detections: nothing found
        return nan, 0.0, 0.0, 0.0
    precision = np.zeros((len(classes), len(thresholds)))
    recall = np.zeros_like(precision)
    for row, c in enumerate(classes):
        s = np.asarray(scores[c], np.float64)
        order = np.argsort(-s, kind="stable")
        cum_tp = np.concatenate([[0], np.cumsum(np.asarray(hits[c], np.int64)[order])])
        n_above = np.searchsorted(-s[order], -thresholds, side="right")  # detections >= threshold
        tp = cum_tp[n_above]
        precision[row] = np.where(n_above > 0, tp / np.maximum(n_above, 1), 0.0)
        recall[row] = tp / n_gt[c]
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    best = int(np.argmax(f1.mean(axis=0)))  # first maximum: the lowest threshold
    return (
        float(thresholds[best]),
        float(precision[:, best].mean()),
        float(recall[:, best].mean()),
        float(f1[:, best].mean()),
    )


def _confusion_at(dataset: Dataset, gt: COCO, detections: list[dict], conf: float) -> np.ndarray:
    """(C + 1, C + 1) counts [predicted, true] of the detections scoring >= ``conf``
    (all when ``nan``), matched to ground truth at IoU 0.5 whatever their class."""
    floor = -np.inf if np.isnan(conf) else conf
    kept = [d for d in detections if d["score"] >= floor]
    dt = _coco(dataset, kept)
    _run(
        gt, dt, max_dets=[len(kept) + 1], iou_thrs=[IOU_OPERATING], extra_calc=True, use_cats=False
    )
    num_classes = dataset.num_classes
    matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for ann in gt.anns.values():
        if ann["iscrowd"]:
            continue
        true = ann["category_id"] - 1
        dt_id = ann.get("dt_id")
        predicted = num_classes if dt_id is None else dt.anns[dt_id]["category_id"] - 1
        matrix[predicted, true] += 1
    for ann in dt.anns.values():
        if ann.get("gt_id") is None:
            matrix[ann["category_id"] - 1, num_classes] += 1
    return matrix
