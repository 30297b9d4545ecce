"""Plots are valid PNG files of a sensible size, even from empty or odd inputs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yolops.data.dataset import Dataset, ImageRecord
from yolops.detections import Detections
from yolops.model.evaluate import evaluate
from yolops.train import plots

NAMES = ("circle", "square", "triangle")


def check_png(path: Path, min_side: int = 200) -> tuple[int, int]:
    assert path.is_file()
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert min(im.size) >= min_side and max(im.size) <= 5000
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 1  # something was drawn
    return im.size


@pytest.fixture
def scene(tmp_path) -> tuple[Dataset, dict[str, Detections]]:
    """Four small images with boxes, written as PNG; predictions are shifted boxes."""
    rng = np.random.default_rng(0)
    records, predictions = [], {}
    for i in range(4):
        path = tmp_path / "images" / f"im{i}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.full((120, 160, 3), 90 + 20 * i, np.uint8))
        xy = rng.uniform(0, 80, (3, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(20, 40, (3, 2))], axis=1)
        classes = rng.integers(0, 3, 3)
        records.append(ImageRecord(f"im{i}", path, 160, 120, boxes, classes))
        predictions[f"im{i}"] = Detections(boxes + 2, rng.uniform(0.3, 1, 3), classes, NAMES)
    return Dataset(records, NAMES), predictions


def test_pr_curves_and_confusion_matrix(scene, tmp_path):
    dataset, predictions = scene
    result = evaluate(dataset, predictions)
    check_png(plots.plot_pr_curves(result, tmp_path / "out" / "pr.png"))
    check_png(plots.plot_confusion_matrix(result, NAMES, tmp_path / "cm.png"))
    check_png(
        plots.plot_confusion_matrix(result, NAMES, tmp_path / "cm_counts.png", normalize=False)
    )
    with pytest.raises(ValueError, match="class names"):
        plots.plot_confusion_matrix(result, NAMES[:2], tmp_path / "bad.png")


def test_evaluation_plots_without_predictions_or_ground_truth(scene, tmp_path):
    dataset, _ = scene
    empty = evaluate(dataset, {})
    check_png(plots.plot_pr_curves(empty, tmp_path / "pr_empty.png"))
    check_png(plots.plot_confusion_matrix(empty, NAMES, tmp_path / "cm_empty.png"))
    no_gt = evaluate(dataset.map(lambda r: r.select(np.zeros(len(r), bool))), {})
    assert no_gt.pr_curves == {} and math.isnan(no_gt.map50)
    check_png(plots.plot_pr_curves(no_gt, tmp_path / "pr_no_gt.png"))
    check_png(plots.plot_confusion_matrix(no_gt, NAMES, tmp_path / "cm_no_gt.png"))


def history(epochs: int = 6) -> list[dict[str, float]]:
    rows = []
    for e in range(1, epochs + 1):
        row = {
            "epoch": e,
            "time": 2.0 * e,
            "train/box_loss": 2 / e,
            "train/cls_loss": 3 / e,
            "train/dfl_loss": 1 / e,
            "lr": 0.01 / e,
        }
        if e % 2 == 0:  # validation every other epoch
            row.update({"val/map50": e / 10, "val/map50_95": e / 20, "val/ap50_95/circle": 0.1})
        rows.append(row)
    return rows


def test_training_curves_from_history_and_csv(tmp_path):
    size = check_png(plots.plot_training_curves(history(), tmp_path / "curves.png"))
    assert size[0] > size[1]  # a grid of panels, four across
    rows = history()
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with (tmp_path / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)  # odd epochs leave the val columns empty
    check_png(plots.plot_training_curves(tmp_path / "metrics.csv", tmp_path / "curves_csv.png"))
    assert plots._curve_keys(rows) == [
        "train/box_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "lr",
        "val/map50",
        "val/map50_95",
    ]


def test_training_curves_with_no_rows_or_one_epoch(tmp_path):
    check_png(plots.plot_training_curves([], tmp_path / "none.png"))
    check_png(plots.plot_training_curves(history(1), tmp_path / "one.png"))


def test_predictions_grid(scene, tmp_path):
    dataset, predictions = scene
    width, height = check_png(
        plots.plot_predictions_grid(dataset, predictions, tmp_path / "grid.png")
    )
    assert width > height  # two images across per tile


def test_predictions_grid_with_empty_predictions_and_an_unreadable_image(scene, tmp_path):
    dataset, _ = scene
    check_png(plots.plot_predictions_grid(dataset, {}, tmp_path / "grid_empty.png"))
    missing = dataset.map(lambda r: r.replace(path=tmp_path / "gone.png") if r.id == "im1" else r)
    check_png(
        plots.plot_predictions_grid(
            missing, {"im0": Detections()}, tmp_path / "grid_missing.png", max_images=2
        )
    )
    check_png(plots.plot_predictions_grid(dataset.subset([]), {}, tmp_path / "grid_none.png"))
