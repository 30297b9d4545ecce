"""Evaluation and training plots written as PNG files.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot): nothing is
shown, no global backend is switched, and plotting is safe in threads and servers.
Every function writes ``path`` (creating its folder) and returns it.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.draw import GT_COLOR, class_color, draw_boxes, draw_detections
from yolops.data.images import read_image
from yolops.detections import Detections
from yolops.errors import ImageReadError
from yolops.model.evaluate import EvalResult

log = logging.getLogger(__name__)

DPI = 100
LEGEND_MAX_CLASSES = 20  # past this many classes a legend hides the plot
ANNOTATE_MAX_CLASSES = 30  # past this many, confusion-matrix cells are too small for numbers
TILE_SIDE = 320  # longest side, in pixels, of each image in the predictions grid


def _rgb(color: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(v / 255 for v in color)


def _save(fig: Figure, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _message(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


# -- evaluation -------------------------------------------------------------------------


def plot_pr_curves(result: EvalResult, path: Path | str) -> Path:
    """Precision against recall at IoU 0.5, one curve per class with ground truth
    (labelled with its AP50) and their mean in black."""
    fig = Figure(figsize=(7, 6), layout="constrained")
    ax = fig.add_subplot()
    names = list(result.pr_curves)
    legend = len(names) <= LEGEND_MAX_CLASSES
    for name, (recall, precision) in result.pr_curves.items():
        index = result.class_names.index(name) if name in result.class_names else names.index(name)
        ap50 = result.per_class_ap50.get(name, float("nan"))
        ax.plot(
            recall,
            precision,
            lw=1,
            color=_rgb(class_color(index)),
            label=f"{name} {ap50:.3f}" if legend else None,
        )
    if names:
        recall = next(iter(result.pr_curves.values()))[0]
        mean = np.mean([p for _, p in result.pr_curves.values()], axis=0)
        ax.plot(recall, mean, lw=3, color="black", label=f"all classes {result.map50:.3f} mAP@0.5")
        ax.legend(loc="lower left", fontsize="small")
    else:
        _message(ax, "no ground truth: no curves")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="Recall",
        ylabel="Precision",
        title="Precision-recall curves (IoU 0.5)",
    )
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion_matrix(
    result: EvalResult, class_names: Sequence[str], path: Path | str, normalize: bool = True
) -> Path:
    """The confusion matrix [predicted, true] with a background row (missed) and
    column (false positives); ``normalize`` divides each column by its total, so a
    cell reads "of the boxes truly of this class, the fraction predicted as that"."""
    matrix = np.asarray(result.confusion, np.float64)
    labels = [*class_names, "background"]
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(
            f"confusion matrix of shape {matrix.shape} does not fit {len(class_names)} class names"
        )
    if normalize:
        totals = matrix.sum(axis=0, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = min(4 + 0.5 * len(labels), 30)
    fig = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else max(matrix.max(), 1))
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=90 if len(labels) > 8 else 0)
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="True", ylabel="Predicted")
    if len(labels) <= ANNOTATE_MAX_CLASSES:
        threshold = 0.5 * (1 if normalize else max(matrix.max(), 1))
        for (row, col), value in np.ndenumerate(matrix):
            if value:
                ax.text(
                    col,
                    row,
                    f"{value:.2f}" if normalize else f"{int(value)}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if value > threshold else "black",
                )
    conf = (
        "all detections"
        if math.isnan(result.conf_threshold)
        else f"conf >= {result.conf_threshold:.3f}"
    )
    ax.set_title(
        f"Confusion matrix{' (normalised per true class)' if normalize else ''}\nIoU 0.5, {conf}"
    )
    return _save(fig, path)


# -- training -----------------------------------------------------------------------------


def _read_metrics_csv(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as f:
        return [dict(row) for row in csv.DictReader(f)]


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _curve_keys(rows: Sequence[Mapping]) -> list[str]:
    """Metrics to plot, train losses first: every column except the epoch, the clock
    and per-class values (``val/ap50/<class>``)."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    keys = [k for k in keys if k not in ("epoch", "time") and k.count("/") <= 1]
    return sorted(keys, key=lambda k: (not k.startswith("train/"), k != "lr", keys.index(k)))


def plot_training_curves(
    metrics: Path | str | Sequence[Mapping[str, float]], path: Path | str
) -> Path:
    """One panel per metric (losses, lr, validation mAP, ...) against the epoch, from
    the trainer's ``metrics.csv`` or its history (one dict per epoch). Missing
    values (epochs without validation) are skipped."""
    rows = _read_metrics_csv(Path(metrics)) if isinstance(metrics, (str, Path)) else list(metrics)
    keys = _curve_keys(rows)
    epochs = np.array([_as_float(row.get("epoch", i + 1)) for i, row in enumerate(rows)])
    cols = min(4, max(len(keys), 1))
    nrows = max(math.ceil(len(keys) / cols), 1)
    fig = Figure(figsize=(4 * cols, 3 * nrows), layout="constrained")
    if not keys:
        _message(fig.add_subplot(), "no metrics recorded")
        return _save(fig, path)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, cols, i + 1)
        values = np.array([_as_float(row.get(key)) for row in rows])
        ok = np.isfinite(values) & np.isfinite(epochs)
        if ok.any():
            ax.plot(epochs[ok], values[ok], marker="o" if ok.sum() <= 30 else None, ms=3, lw=1.5)
        else:
            _message(ax, "no values")
        ax.set_title(key, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    return _save(fig, path)


# -- pictures ---------------------------------------------------------------------------------


def _tile(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Resize so the longest side is TILE_SIDE; returns the image and the scale."""
    scale = TILE_SIDE / max(image.shape[:2])
    size = (max(round(image.shape[1] * scale), 1), max(round(image.shape[0] * scale), 1))
    return cv2.resize(
        image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    ), scale


def _pair(record: ImageRecord, detections: Detections, class_names: Sequence[str]) -> np.ndarray:
    """Ground truth (green, left) and predictions (class colours, right), side by side."""
    image, scale = _tile(read_image(record.path))
    truth = draw_boxes(
        image,
        record.boxes * scale,
        record.classes,
        class_names,
        color=GT_COLOR,
        thickness=1,
        font_scale=0.35,
    )
    scaled = Detections(detections.boxes * scale, detections.scores, detections.classes)
    predicted = draw_detections(image, scaled, class_names, thickness=1, font_scale=0.35)
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([truth, gap, predicted], axis=1)


def plot_predictions_grid(
    dataset: Dataset,
    predictions: Mapping[str, Detections],
    path: Path | str,
    max_images: int = 16,
    conf: float = 0.25,
) -> Path:
    """The first ``max_images`` images of ``dataset``, each as ground truth (green,
    left) beside the predictions scoring at least ``conf`` (class colours, with
    scores, right). An image that cannot be read gets a panel saying why."""
    records = list(dataset.records[:max_images])
    cols = max(min(4, math.ceil(math.sqrt(len(records)))), 1)
    nrows = max(math.ceil(len(records) / cols), 1)
    # Rows as tall as a side-by-side pair of the first image's shape, plus its title.
    aspect = records[0].height / (2 * records[0].width) if records and records[0].width else 0.5
    fig = Figure(figsize=(6.5 * cols, (6.5 * aspect + 0.4) * nrows), layout="constrained")
    if not records:
        _message(fig.add_subplot(), "no images")
        return _save(fig, path)
    for i, record in enumerate(records):
        ax = fig.add_subplot(nrows, cols, i + 1)
        ax.set_axis_off()
        det = predictions.get(record.id, Detections())
        det = det.select(det.scores >= conf)
        try:
            ax.imshow(_pair(record, det, dataset.class_names))
        except ImageReadError as e:
            log.warning("predictions grid: %s", e)
            _message(ax, f"cannot read image:\n{e.reason}")
        ax.set_title(
            f"{record.id}: {len(record)} true | {len(det)} predicted (conf >= {conf:g})",
            fontsize="small",
        )
    return _save(fig, path)
