"""COCO metrics through faster-coco-eval, checked against pycocotools and hand cases."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from yolops.data.dataset import Dataset, ImageRecord
from yolops.detections import Detections
from yolops.errors import YolopsError
from yolops.model.evaluate import EvalResult, evaluate

NAMES = ("a", "b", "c")


def record(image_id: str, boxes=(), classes=(), **attributes) -> ImageRecord:
    return ImageRecord(
        image_id,
        f"/nowhere/{image_id}.png",
        640,
        480,
        np.array(boxes, np.float32).reshape(-1, 4),
        classes,
        attributes,
    )


def random_set(num_images: int, seed: int, extra: int = 3) -> tuple[Dataset, dict[str, Detections]]:
    """Random ground truth; predictions are jittered ground truth with some boxes
    missed, some classes wrong, some false positives, random scores; every 7th
    image has no prediction entry and some images have no ground truth."""
    rng = np.random.default_rng(seed)
    records, predictions = [], {}
    for i in range(num_images):
        k = int(rng.integers(0, 8))
        xy = rng.uniform(0, 500, (k, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(20, 140, (k, 2))], axis=1)
        classes = rng.integers(0, len(NAMES), k)
        records.append(record(f"im{i}", boxes, classes))
        found = rng.random(k) > 0.2
        pred_boxes = boxes[found] + rng.normal(0, 4, (found.sum(), 4))
        pred_classes = classes[found].copy()
        wrong = rng.random(len(pred_classes)) < 0.1
        pred_classes[wrong] = rng.integers(0, len(NAMES), wrong.sum())
        m = int(rng.integers(0, extra + 1))
        fxy = rng.uniform(0, 500, (m, 2))
        pred_boxes = np.concatenate(
            [pred_boxes, np.concatenate([fxy, fxy + rng.uniform(20, 140, (m, 2))], 1)]
        )
        pred_classes = np.concatenate([pred_classes, rng.integers(0, len(NAMES), m)])
        if i % 7 != 3:
            predictions[f"im{i}"] = Detections(
                pred_boxes, rng.random(len(pred_boxes)), pred_classes
            )
    return Dataset(records, NAMES), predictions


def pycocotools_stats(dataset: Dataset, predictions: dict[str, Detections]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    gt = {
        "images": [
            {"id": i + 1, "width": r.width, "height": r.height} for i, r in enumerate(dataset)
        ],
        "categories": [{"id": c + 1, "name": n} for c, n in enumerate(dataset.class_names)],
        "annotations": [],
    }
    results = []
    for i, r in enumerate(dataset):
        for b, c in zip(r.boxes.tolist(), r.classes.tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": c + 1,
                    "bbox": xywh(b),
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        det = predictions.get(r.id, Detections())
        for b, c, s in zip(det.boxes.tolist(), det.classes.tolist(), det.scores.tolist()):
            results.append({"image_id": i + 1, "category_id": c + 1, "bbox": xywh(b), "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pycocotools_on_noisy_predictions(seed):
    dataset, predictions = random_set(20, seed)
    result = evaluate(dataset, predictions)
    stats = pycocotools_stats(dataset, predictions)
    assert 0.05 < result.map50_95 < 0.95  # a non-trivial case
    assert result.map50_95 == pytest.approx(stats[0], abs=1e-6)
    assert result.map50 == pytest.approx(stats[1], abs=1e-6)
    assert result.map75 == pytest.approx(stats[2], abs=1e-6)
    # COCO's mAP is the mean of the per-class APs over classes with ground truth.
    assert result.map50_95 == pytest.approx(
        np.nanmean(list(result.per_class_ap.values())), abs=1e-9
    )
    assert result.map50 == pytest.approx(np.nanmean(list(result.per_class_ap50.values())), abs=1e-9)


def test_best_f1_point_agrees_with_faster_coco_eval_extended_metrics():
    from faster_coco_eval import COCO, COCOeval_faster

    dataset, predictions = random_set(20, seed=5)
    result = evaluate(dataset, predictions)
    gt = COCO()
    gt.dataset = {
        "images": [
            {"id": i + 1, "width": r.width, "height": r.height} for i, r in enumerate(dataset)
        ],
        "categories": [{"id": c + 1, "name": n} for c, n in enumerate(NAMES)],
        "annotations": [],
    }
    results = []
    for i, r in enumerate(dataset):
        for b, c in zip(r.boxes.tolist(), r.classes.tolist()):
            gt.dataset["annotations"].append(
                {
                    "id": len(gt.dataset["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": c + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "area": (b[2] - b[0]) * (b[3] - b[1]),
                    "iscrowd": 0,
                }
            )
        det = predictions.get(r.id, Detections())
        for b, c, s in zip(det.boxes.tolist(), det.classes.tolist(), det.scores.tolist()):
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": c + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "score": s,
                }
            )
    gt.createIndex()
    coco_eval = COCOeval_faster(
        gt, gt.loadRes(results), "bbox", extra_calc=True, print_function=lambda *a: None
    )
    # IoU 0.5 alone, so that its match list holds IoU-0.5 matches only.
    coco_eval.params.iouThrs = np.array([0.5])
    coco_eval.params.maxDets = [10_000]
    coco_eval.run()
    extended = coco_eval.extended_metrics
    assert result.precision == pytest.approx(extended["precision"], abs=1e-9)
    assert result.recall == pytest.approx(extended["recall"], abs=1e-9)


def test_perfect_predictions_score_one():
    dataset, _ = random_set(10, seed=3)
    predictions = {r.id: Detections(r.boxes, np.full(len(r), 0.9), r.classes) for r in dataset}
    result = evaluate(dataset, predictions)
    assert result.map50_95 == pytest.approx(1.0)
    assert result.map50 == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in result.per_class_ap.values())
    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert result.conf_threshold == pytest.approx(0.9)
    assert np.diag(result.confusion)[:-1].tolist() == list(dataset.class_counts().values())
    assert result.confusion.sum() == dataset.num_boxes


def test_no_predictions_score_zero():
    dataset, _ = random_set(10, seed=3)
    result = evaluate(dataset, {})
    assert result.map50_95 == 0.0 and result.map50 == 0.0
    assert (result.precision, result.recall, result.f1) == (0.0, 0.0, 0.0)
    assert math.isnan(result.conf_threshold)
    # Everything missed: the background row holds every box.
    assert result.confusion[-1, :-1].tolist() == list(dataset.class_counts().values())
    assert result.confusion[:-1].sum() == 0
    empty = evaluate(dataset, {r.id: Detections() for r in dataset})
    assert empty.map50_95 == 0.0


def test_class_without_ground_truth_is_nan_and_left_out_of_the_mean():
    boxes = [[10, 10, 60, 60], [100, 100, 180, 160]]
    dataset = Dataset([record("x", boxes, [0, 1]), record("empty")], NAMES)
    predictions = {
        "x": Detections(boxes, [0.9, 0.8], [0, 1]),
        "empty": Detections([[5, 5, 50, 50]], [0.7], [2]),  # false positive of the class with no gt
    }
    result = evaluate(dataset, predictions)
    assert math.isnan(result.per_class_ap["c"]) and math.isnan(result.per_class_ap50["c"])
    assert result.map50_95 == pytest.approx(1.0)
    assert set(result.pr_curves) == {"a", "b"}
    metrics = result.to_metrics("val/")
    assert math.isnan(metrics["val/ap50_95/c"])
    assert result.confusion[2, 3] == 1  # still counted as a false positive


def test_precision_recall_at_best_f1_on_a_hand_case():
    # Class a: 2 gt. Detections (score): TP .9, FP .8, TP .6, FP .3.
    # Thresholds .3/.6/.8/.9 give P,R = (.5,1) (.667,1) (.5,.5) (1,.5): best F1 at .6.
    gt = [[0, 0, 50, 50], [100, 100, 150, 150]]
    dataset = Dataset([record("x", gt, [0, 0])], NAMES)
    det = Detections(
        [[0, 0, 50, 50], [300, 300, 350, 350], [100, 100, 150, 150], [400, 0, 450, 50]],
        [0.9, 0.8, 0.6, 0.3],
        [0, 0, 0, 0],
    )
    result = evaluate(dataset, {"x": det})
    assert result.conf_threshold == pytest.approx(0.6)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(1.0)
    assert result.f1 == pytest.approx(0.8)
    recall, precision = result.pr_curves["a"]
    assert recall.shape == precision.shape == (101,)
    assert precision[0] == pytest.approx(1.0) and precision[-1] == pytest.approx(2 / 3)


def test_confusion_matrix_on_a_hand_case():
    # gt: a at A, b at B, c at C. predictions: A labelled b (wrong class), B labelled b,
    # C missed, one false positive labelled a.
    A, B, C, F = [0, 0, 40, 40], [100, 0, 140, 40], [200, 0, 240, 40], [300, 300, 340, 340]
    dataset = Dataset([record("x", [A, B, C], [0, 1, 2])], NAMES)
    det = Detections([A, F, B], [0.9, 0.8, 0.7], [1, 0, 1])
    result = evaluate(dataset, {"x": det})
    assert result.conf_threshold == pytest.approx(0.7)  # every detection is kept
    expected = np.zeros((4, 4), np.int64)
    expected[1, 0] = 1  # predicted b, true a
    expected[1, 1] = 1  # predicted b, true b
    expected[3, 2] = 1  # c missed
    expected[0, 3] = 1  # false positive a
    assert result.confusion.tolist() == expected.tolist()


def test_crowd_boxes_are_ignored():
    boxes = [[0, 0, 50, 50], [100, 100, 300, 300]]
    dataset = Dataset([record("x", boxes, [0, 0], iscrowd=[False, True])], NAMES)
    # One detection on the real box, two inside the crowd region: neither counts.
    det = Detections(
        [[0, 0, 50, 50], [110, 110, 200, 200], [150, 150, 290, 290]], [0.9, 0.8, 0.7], [0, 0, 0]
    )
    result = evaluate(dataset, {"x": det})
    assert result.map50_95 == pytest.approx(1.0)
    assert (result.precision, result.recall) == (1.0, 1.0)
    assert result.confusion.sum() == 1 and result.confusion[0, 0] == 1


def test_difficult_boxes_count_as_ground_truth():
    boxes = [[0, 0, 50, 50], [100, 100, 150, 150]]
    dataset = Dataset([record("x", boxes, [0, 0], difficult=[False, True])], NAMES)
    result = evaluate(dataset, {"x": Detections(boxes[:1], [0.9], [0])})
    assert result.recall == pytest.approx(0.5)


def test_unknown_image_and_bad_class_raise():
    dataset, _ = random_set(3, seed=0)
    with pytest.raises(YolopsError, match="'ghost'"):
        evaluate(dataset, {"ghost": Detections()})
    with pytest.raises(YolopsError, match="class ids"):
        evaluate(dataset, {"im0": Detections([[0, 0, 10, 10]], [0.5], [7])})
    with pytest.raises(YolopsError, match="iou_type"):
        evaluate(dataset, {}, iou_type="segm")


def test_dataset_without_ground_truth_gives_nan():
    dataset = Dataset([record("x"), record("y")], NAMES)
    result = evaluate(dataset, {"x": Detections([[0, 0, 10, 10]], [0.5], [1])})
    assert math.isnan(result.map50_95) and math.isnan(result.precision)
    assert result.confusion[1, 3] == 1
    assert result.pr_curves == {}


def test_to_metrics_keys_are_stable():
    dataset, predictions = random_set(5, seed=0)
    dataset = dataset.remap_classes(["a", "b", "c"])
    metrics = evaluate(dataset, predictions).to_metrics("test/")
    for key in ("map50_95", "map50", "map75", "precision", "recall", "f1", "conf_threshold"):
        assert isinstance(metrics[f"test/{key}"], float)
    for name in NAMES:
        assert f"test/ap50_95/{name}" in metrics and f"test/ap50/{name}" in metrics
    odd = EvalResult(
        0.0, 0.0, 0.0, {"big car (x)": 0.5}, {}, 0.0, 0.0, 0.0, 0.0, {}, np.zeros((2, 2)), 0, 0
    )
    assert "val/ap50_95/big car _x_" in odd.to_metrics()


def test_72_images_with_300_predictions_each():
    rng = np.random.default_rng(0)
    dataset, _ = random_set(72, seed=4)
    predictions = {}
    for r in dataset:
        xy = rng.uniform(0, 500, (300, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(10, 140, (300, 2))], axis=1)
        boxes[: len(r)] = r.boxes + rng.normal(0, 3, r.boxes.shape)
        predictions[r.id] = Detections(boxes, rng.random(300), rng.integers(0, 3, 300))
    # A BCCD-sized evaluation with a full PR curve's worth of predictions (its speed is
    # in bench/bench_quality.py's neighbourhood: about 0.3 s on 2 cores, not asserted).
    result = evaluate(dataset, predictions)
    assert result.num_images == 72 and result.num_boxes == sum(len(r) for r in dataset)
    assert 0.0 < result.map50 <= 1.0
