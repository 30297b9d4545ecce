"""Label errors: cleanlab's ranking on predictions of a simulated good model (planted
errors near the top), faithfulness to cleanlab, the issues and their pictures, and
the real k-fold path once, end to end, with a model trained for one epoch.

Training a detector well enough to judge labels takes minutes, so the ranking is
tested on predictions built from the ground truth *before* the errors were planted:
the true boxes, jittered (IoU with the truth ~0.8), with scores 0.85..0.99, plus a
few low-score false alarms per image. That is what a good out-of-sample model sees;
whether the ranking then puts the planted errors on top is exactly the question.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cleanlab.object_detection import rank

from yolops.data.dataset import Dataset
from yolops.data.synth import SynthConfig, generate
from yolops.detections import Detections
from yolops.errors import ConfigError
from yolops.quality import labels as labels_module
from yolops.quality.labels import (
    KFoldConfig,
    LabelCheckConfig,
    LabelErrorCheck,
    LabelIssue,
    kfold_predictions,
    label_issues,
    label_scores,
)
from yolops.quality.plant import LABEL_KINDS, matches, plant_defects, precision_at_k, recall
from yolops.quality.report import render_html
from yolops.quality.validate import QualityConfig, validate_dataset
from yolops.train.config import TrainConfig


def good_model(truth: Dataset, images: Dataset, seed: int = 0) -> dict[str, Detections]:
    """Predictions for ``images`` from the labels of ``truth`` (the clean dataset)."""
    rng = np.random.default_rng(seed)
    out = {}
    for r in images:
        boxes = truth[r.id].boxes.astype(np.float64)
        sides = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
        jittered = boxes + rng.normal(0, 0.04, boxes.shape) * sides
        n_false = int(rng.integers(0, 3))
        wh = rng.uniform(10, 60, (n_false, 2))
        xy = rng.uniform(0, 1, (n_false, 2)) * (np.array([r.width, r.height]) - wh)
        out[r.id] = Detections(
            np.concatenate([jittered, np.concatenate([xy, xy + wh], axis=1)]),
            np.concatenate([rng.uniform(0.85, 0.99, len(boxes)), rng.uniform(0.05, 0.4, n_false)]),
            np.concatenate([truth[r.id].classes, rng.integers(0, truth.num_classes, n_false)]),
            truth.class_names,
        )
    return out


@pytest.fixture(scope="module")
def mislabelled(shapes, tmp_path_factory):
    """``shapes`` with 5 of each label error, the truth, and good-model predictions."""
    ds, truth = plant_defects(
        shapes, tmp_path_factory.mktemp("mislabelled"), seed=2, per_kind=5, kinds=LABEL_KINDS
    )
    return ds, truth, good_model(shapes, ds)


@pytest.fixture(scope="module")
def found(mislabelled):
    ds, _, predictions = mislabelled
    scores = label_scores(ds, predictions)
    return scores, label_issues(ds, scores)


def test_recall_of_each_planted_label_error(mislabelled, found):
    _, truth, _ = mislabelled
    _, issues = found
    per_kind = recall(truth, issues)
    assert set(per_kind) == set(LABEL_KINDS)
    for kind, (hit, planted) in per_kind.items():
        assert hit / planted >= 0.8, (kind, per_kind)  # floor: 4 of 5 of every kind


def test_planted_errors_top_the_ranking(mislabelled, found):
    """Precision at k (k = the number planted): of the k surest issues, how many are
    planted errors; and of the k lowest cleanlab image scores, how many images hold
    an error of the three kinds cleanlab scores."""
    _, truth, _ = mislabelled
    scores, issues = found
    k = len(truth)
    top = issues[:k]
    assert sum(any(matches(i, d) for d in truth) for i in top) / k >= 0.8
    ranked = [image_id for image_id, _ in scores.ranked()]
    assert (
        precision_at_k(ranked, truth, kinds=("dropped_box", "flipped_class", "shifted_box")) >= 0.7
    )


def test_a_clean_dataset_with_a_good_model_has_few_label_issues(shapes):
    scores = label_scores(shapes, good_model(shapes, shapes, seed=1))
    issues = label_issues(shapes, scores)
    assert len(issues) <= 0.02 * shapes.num_boxes


def _cleanlab_format(ds: Dataset, predictions: dict[str, Detections]):
    labels = [{"bboxes": r.boxes.astype(np.float64), "labels": r.classes} for r in ds]
    preds = []
    for r in ds:
        d = predictions[r.id]
        rows = np.concatenate([d.boxes, d.scores[:, None]], axis=1).astype(np.float64)
        preds.append([rows[d.classes == k] for k in range(ds.num_classes)])
    return labels, preds


def test_scores_are_cleanlabs_own(mislabelled):
    """With cleanlab's thresholds and its rule that a prediction touching any label is
    not an overlooked object (covered_iou 0), our fast inputs give exactly the scores
    cleanlab computes itself."""
    ds, _, predictions = mislabelled
    ds = ds.subset(ds.ids[:25])
    config = LabelCheckConfig(
        low_probability_threshold=0.5,
        high_probability_threshold=0.95,
        covered_iou=0.0,
        min_prediction_score=0.0,
    )
    ours = label_scores(ds, predictions, config)
    by_class = {i: d.select(np.argsort(d.classes, kind="stable")) for i, d in predictions.items()}
    labels, preds = _cleanlab_format(ds, by_class)
    np.testing.assert_allclose(
        ours.image_scores, rank.get_label_quality_scores(labels, preds, verbose=False)
    )
    for mine, theirs in [
        (ours.badloc, rank.compute_badloc_box_scores(labels=labels, predictions=preds)),
        (ours.swap, rank.compute_swap_box_scores(labels=labels, predictions=preds)),
        (ours.overlooked, rank.compute_overlooked_box_scores(labels=labels, predictions=preds)),
    ]:
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(a, b, equal_nan=True)


def test_issues_carry_the_models_side(mislabelled, found):
    ds, truth, _ = mislabelled
    _, issues = found
    assert all(isinstance(i, LabelIssue) and i.code in labels_module.LABEL_CODES for i in issues)
    keys = [labels_module.severity_key(i) for i in issues]
    assert keys == sorted(keys) and all(0 <= k <= 1 for k in keys)
    flipped = next(d for d in truth if d.kind == "flipped_class")
    wrong = next(
        i for i in issues if i.image_id == flipped.image_id and i.code == "label_wrong_class"
    )
    true_class = ds.class_names[wrong.predicted_class]
    assert wrong.location == f"box {flipped.box}" and wrong.box == flipped.box
    assert f"the model sees a {true_class} here" in wrong.message and wrong.predicted_score > 0.8
    assert wrong.predicted_class != ds[flipped.image_id].classes[flipped.box]
    missing = next(i for i in issues if i.code == "label_missing_box")
    assert missing.box is None and missing.location is None and missing.predicted_box is not None
    spurious = next(i for i in issues if i.code == "label_spurious_box")
    assert spurious.predicted_box is None and "sees nothing here" in spurious.message
    row = json.loads(json.dumps(wrong.to_dict()))
    assert (
        row["severity"] == "warning"
        and row["score"] == wrong.score
        and len(row["predicted_box"]) == 4
    )


def test_a_model_that_finds_little_is_not_asked_about_labels(mislabelled):
    ds, _, predictions = mislabelled
    half_blind = {
        k: (d if n % 3 == 0 else Detections(class_names=d.class_names))
        for n, (k, d) in enumerate(predictions.items())
    }
    scores = label_scores(ds, half_blind)
    assert 0.2 < scores.model_recall < 0.5
    issues = label_issues(ds, scores)
    assert [i.code for i in issues] == ["label_model_too_weak"] and "too weak" in issues[0].message
    assert label_scores(ds, predictions).model_recall > 0.9
    lenient = LabelCheckConfig(min_model_recall=0.2)
    assert len(label_issues(ds, scores, lenient)) > 100  # what it would say: most labels spurious


def test_thresholds_are_validated():
    with pytest.raises(ConfigError, match="max_wrong_class_score"):
        LabelCheckConfig(max_wrong_class_score=1.5)
    with pytest.raises(ConfigError, match="2 folds"):
        KFoldConfig(folds=1)


def test_model_classes_are_matched_by_name():
    d = Detections(
        [[0, 0, 5, 5], [1, 1, 6, 6], [2, 2, 7, 7]],
        [0.9, 0.8, 0.7],
        [0, 1, 2],
        ("dog", "cat", "car"),
    )
    out = labels_module._remap({"x": d}, ("dog", "cat", "car"), ("cat", "dog"), "m.pt")["x"]
    assert out.classes.tolist() == [1, 0] and out.scores.tolist() == pytest.approx([0.9, 0.8])
    with pytest.raises(ConfigError, match=r"does not know classes \['bird'\]"):
        labels_module._remap({"x": d}, ("dog", "cat"), ("cat", "bird"), "m.pt")


def test_the_check_plugs_into_validation_and_the_report_shows_both_boxes(mislabelled, monkeypatch):
    ds, truth, predictions = mislabelled
    monkeypatch.setattr(
        labels_module, "model_predictions", lambda dataset, source, conf: predictions
    )
    report = validate_dataset(
        ds, config=QualityConfig(read_images=False), extra_checks=[LabelErrorCheck("m.pt")]
    )
    label_found = [i for i in report.issues if i.code.startswith("label_")]
    assert recall(truth, label_found) == recall(
        truth, label_issues(ds, label_scores(ds, predictions))
    )
    wrong = [i for i in report.issues if i.code == "label_wrong_class"]
    assert [i.score for i in wrong] == sorted(i.score for i in wrong)  # surest first within a code
    page = render_html(report, thumbnails=2)
    assert "red: the label · blue: the model" in page and "label_missing_box" in page


@pytest.mark.slow
def test_kfold_predictions_end_to_end(tmp_path, monkeypatch):
    """Two folds, one epoch at 64 px: proves the path runs and stays out of sample."""
    import yolops.quality.labels as labels

    ds = generate(
        tmp_path / "gen",
        SynthConfig(num_images=12, image_size=(96, 64), min_size=12, max_size=30, seed=5),
    )
    trained_on = []
    real_train = labels.train

    def spy(config, dataset=None, **kw):
        trained_on.append((set(dataset.splits["train"]), set(dataset.splits["val"])))
        return real_train(config, dataset=dataset, **kw)

    monkeypatch.setattr(labels, "train", spy)
    config = KFoldConfig(
        folds=2,
        workdir=str(tmp_path / "runs"),
        train=TrainConfig(scale="n", imgsz=64, epochs=1, batch=8),
    )
    predictions = kfold_predictions(ds, config)
    assert set(predictions) == set(ds.ids)
    assert len(trained_on) == 2
    for train_ids, held_out in trained_on:
        assert not train_ids & held_out and train_ids | held_out == set(ds.ids)
    assert set().union(*(h for _, h in trained_on)) == set(ds.ids)  # every image predicted once
    assert (tmp_path / "runs" / "fold0" / "weights" / "best.pt").is_file()
    issues = label_issues(ds, label_scores(ds, predictions))
    # one epoch teaches nothing: the check says so once instead of calling every label spurious
    assert [i.code for i in issues] == [labels_module.MODEL_TOO_WEAK]


def test_one_object_labelled_with_two_classes(annotations):
    """cleanlab gives both boxes of a two-class label its lowest swap score (the least
    similarity in the dataset: image y supplies a far one); with no confident
    prediction to point at, the issue says what the labels say."""
    ds = annotations(
        {"x": [(10, 10, 50, 50, 0), (10, 10, 50, 50, 1)], "y": [(0, 0, 10, 10, 0)]},
        class_names=("a", "b"),
    )
    predictions = {
        "x": Detections([[11, 10, 50, 51]], [0.6], [0], ("a", "b")),
        "y": Detections([[1, 0, 10, 11], [80, 60, 100, 80]], [0.9, 0.3], [0, 0], ("a", "b")),
    }
    issues = label_issues(ds, label_scores(ds, predictions))
    assert [(i.image_id, i.code, i.box) for i in issues] == [
        ("x", "label_wrong_class", 0),
        ("x", "label_wrong_class", 1),
    ]
    assert all(
        "also labelled as another class" in i.message and i.predicted_box is None for i in issues
    )
