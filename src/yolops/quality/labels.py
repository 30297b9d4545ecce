"""Likely label errors, from a detector's out-of-sample predictions ranked by cleanlab.

Predictions come from k-fold training (:func:`kfold_predictions`: each image is
predicted by a yolops detector trained on the other folds, so it never saw that
image's labels) or from a given model (:func:`model_predictions`; out of sample only
if the model was not trained on these images: a model remembers the labels it
learned from, errors included).

cleanlab's ObjectLab (:mod:`cleanlab.object_detection.rank`) scores every box from 0
(surely wrong) to 1 (fine). Its three per-box scores become our issues:

- ``label_missing_box`` (overlooked): a confident prediction that no label covers,
  one score per predicted box. cleanlab counts a prediction touching any label as
  covered; in crowded images (blood cells) a missed object always touches a
  neighbour, so a prediction overlapping no label by ``covered_iou`` gets cleanlab's
  formula too;
- ``label_wrong_class`` (swap): a confident prediction of another class on a labelled box;
- ``label_bad_location`` (badloc): the predictions of the box's class that overlap it
  fit it poorly.

cleanlab has no score for a label with no object under it: badloc and swap give
1.0 (clean) when no confident prediction overlaps a labelled box. We add one,
``label_spurious_box``: the best IoU x prediction score of a labelled box over all
predictions of any class (0 when nothing is predicted there), reported at or below
``spurious_score``.

The other subtypes are reported at or below their ``max_*_score``; issues are ranked
by score relative to that threshold (:func:`severity_key`). Images are ranked by
cleanlab's label quality score (as :func:`cleanlab.object_detection.rank.get_label_quality_scores`
computes it: the geometric mean of the three subtypes' softmin-pooled box scores).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from cleanlab.internal.constants import (
    ALPHA,
    CUSTOM_SCORE_WEIGHT_BADLOC,
    CUSTOM_SCORE_WEIGHT_OVERLOOKED,
    CUSTOM_SCORE_WEIGHT_SWAP,
    EUC_FACTOR,
    TINY_VALUE,
)
from cleanlab.object_detection import rank
from cleanlab.object_detection.rank import pool_box_scores_per_image
from rich.console import Console

from yolops.data.dataset import Dataset
from yolops.data.formats._checks import relative_name
from yolops.data.images import probe_image
from yolops.detections import Detections
from yolops.errors import ConfigError, ImageReadError, YolopsError
from yolops.infer.predictor import Predictor, load_predictor, predict_records
from yolops.issues import Issue, Severity
from yolops.model.boxes import box_iou
from yolops.train.config import TrainConfig
from yolops.train.trainer import train

LABEL_CODES = ("label_missing_box", "label_wrong_class", "label_bad_location", "label_spurious_box")
MODEL_TOO_WEAK = (
    "label_model_too_weak"  # the one issue when the model's opinion is not worth having
)


@dataclass(frozen=True)
class LabelCheckConfig:
    """How predictions are judged. cleanlab's own defaults are 0.5 and 0.95 for the
    two probability thresholds, tuned for softmax detectors; a yolops detector's
    scores are IoU-aware (a correct, well-placed box often scores 0.7..0.9), so the
    high threshold is lower here."""

    low_probability_threshold: float = 0.5  # predictions above it judge a box's placement
    high_probability_threshold: float = (
        0.8  # above it, a prediction can call a box missing or misclassified
    )
    # A box scoring at most this (0 wrong .. 1 fine) in a subtype becomes an issue.
    # badloc is about IoU x 0.9 (plus a small centre-distance term), so 0.5 flags a
    # label whose best same-class prediction overlaps it by IoU < ~0.5: unmatched, as
    # detection metrics count it; swap and overlooked scores of real errors sit lower.
    max_missing_score: float = 0.3
    max_wrong_class_score: float = 0.3
    max_bad_location_score: float = 0.5
    spurious_score: float = (
        0.05  # a label whose best IoU x score over all predictions is at most this is spurious
    )
    min_prediction_score: float = (
        0.05  # predictions below this are dropped first (cleanlab never uses them)
    )
    covered_iou: float = (
        0.3  # a confident prediction overlapping no label by this much may be a missed object
    )
    # A model that finds fewer of the labelled boxes than this (IoU >= 0.5, its class,
    # score above low_probability_threshold) would call most labels spurious: its
    # opinion is reported as one warning instead of an issue per box.
    min_model_recall: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "low_probability_threshold",
            "high_probability_threshold",
            "max_missing_score",
            "max_wrong_class_score",
            "max_bad_location_score",
            "spurious_score",
            "min_prediction_score",
            "covered_iou",
            "min_model_recall",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"LabelCheckConfig.{name} must be in [0, 1], got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class KFoldConfig:
    """Out-of-sample predictions by k-fold training: ``folds`` models, each trained
    with ``train`` on the other folds and predicting its own fold at ``conf``.
    ``workdir`` keeps the runs (a temporary folder, removed afterwards, when None)."""

    folds: int = 4
    train: TrainConfig = field(default_factory=lambda: TrainConfig(scale="n", imgsz=320, epochs=30))
    conf: float = 0.05
    seed: int = 0
    workdir: str | None = None

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"k-fold needs at least 2 folds, got {self.folds}")


@dataclass(frozen=True)
class LabelIssue(Issue):
    """An :class:`Issue` about a label, with the model's side of the story: ``score``
    (cleanlab's, 0 surely wrong .. 1 fine), and the prediction the judgement rests on
    (``predicted_box`` xyxy pixels, ``predicted_class``, ``predicted_score``; None
    for a spurious box, which nothing predicted overlaps)."""

    score: float = 1.0
    box: int | None = None  # index of the labelled box in the record (None: a missing box)
    predicted_box: tuple[float, float, float, float] | None = None
    predicted_class: int | None = None
    predicted_score: float | None = None


@dataclass(frozen=True, eq=False)
class LabelScores:
    """cleanlab's scores for a dataset, in dataset order. ``image_scores`` (N,) is the
    label quality of each image (lower: more likely mislabelled); per image, the
    per-box scores: ``overlooked`` per prediction (NaN where a prediction cannot be an
    overlooked object), ``swap``, ``badloc`` and ``spurious`` per labelled box; and
    ``model_recall``, the share of labelled boxes the model finds (a prediction of
    their class with IoU >= 0.5 and a score above the low probability threshold)."""

    image_ids: tuple[str, ...]
    image_scores: np.ndarray
    predictions: tuple[Detections, ...]
    overlooked: tuple[np.ndarray, ...]
    swap: tuple[np.ndarray, ...]
    badloc: tuple[np.ndarray, ...]
    spurious: tuple[np.ndarray, ...]
    model_recall: float = 1.0

    def ranked(self) -> list[tuple[str, float]]:
        """(image id, score), the most likely mislabelled first."""
        order = np.argsort(self.image_scores, kind="stable")
        return [(self.image_ids[i], float(self.image_scores[i])) for i in order]


# -- predictions ------------------------------------------------------------------------------


def model_predictions(
    ds: Dataset, model: str | Path | Predictor, conf: float = 0.05, device: str = "auto"
) -> dict[str, Detections]:
    """Predictions of a model (a .pt or .onnx file, or a loaded predictor) on every
    readable image of ``ds``, keyed by image id, class ids remapped to
    ``ds.class_names`` by name."""
    predictor = model if hasattr(model, "predict") else load_predictor(model, device=device)
    found = predict_records(predictor, _readable(ds), conf=conf)
    return _remap(found, predictor.class_names, ds.class_names, _describe(model))


def _describe(model: str | Path | Predictor) -> str:
    return str(getattr(model, "path", model))


def kfold_predictions(
    ds: Dataset, config: KFoldConfig = KFoldConfig(), console: Console | None = None
) -> dict[str, Detections]:
    """Out-of-sample predictions for every readable image of ``ds``: the images are
    cut into ``config.folds`` folds (stratified by class), and each fold is predicted
    by a model trained on the others. Unreadable images are left out (the image
    checks report them); so are their predictions."""
    console = console or Console(quiet=True)
    usable = _readable(ds)
    if len(usable) < config.folds:
        raise YolopsError(f"k-fold: {len(usable)} readable images cannot make {config.folds} folds")
    folds = usable.random_split(
        {f"fold{k}": 1.0 for k in range(config.folds)}, seed=config.seed
    ).splits
    out: dict[str, Detections] = {}
    with tempfile.TemporaryDirectory(prefix="yolops-kfold-") as tmp:
        project = Path(config.workdir or tmp)
        for k, (name, held_out) in enumerate(folds.items()):
            rest = [i for other, ids in folds.items() if other != name for i in ids]
            fold_ds = usable.with_splits({"train": rest, "val": held_out})
            # Validate only once, at the end: choosing best.pt by the held-out fold's
            # labels would let them leak into its predictions.
            train_config = config.train.replace(
                project=str(project),
                name=name,
                val_interval=10**9,
                seed=config.train.seed + k,
                val_split="val",
            )
            console.print(f"k-fold: training fold {k + 1}/{config.folds} on {len(rest)} images")
            result = train(train_config, dataset=fold_ds, console=console)
            predictor = load_predictor(result.best, backend="torch")
            out.update(predict_records(predictor, fold_ds.split("val"), conf=config.conf))
    return out


def _readable(ds: Dataset) -> Dataset:
    def ok(r) -> bool:
        try:
            probe_image(r.path)
        except ImageReadError:
            return False
        return True

    return ds.filter(ok)


def _remap(
    predictions: Mapping[str, Detections],
    model_names: Sequence[str],
    names: Sequence[str],
    source: str,
) -> dict[str, Detections]:
    missing = [c for c in names if c not in model_names]
    if missing:
        raise ConfigError(
            f"{source}: the model does not know classes {missing} of the dataset "
            f"(it knows {list(model_names)})"
        )
    lut = np.array([list(names).index(c) if c in names else -1 for c in model_names], np.int64)
    out = {}
    for image_id, d in predictions.items():
        classes = lut[d.classes] if len(d) else d.classes
        keep = classes >= 0  # classes the dataset does not have
        out[image_id] = Detections(d.boxes[keep], d.scores[keep], classes[keep], tuple(names))
    return out


# -- scores -----------------------------------------------------------------------------------


def label_scores(
    ds: Dataset,
    predictions: Mapping[str, Detections],
    config: LabelCheckConfig = LabelCheckConfig(),
) -> LabelScores:
    """cleanlab's scores for every image of ``ds`` that has predictions."""
    records = [r for r in ds if r.id in predictions]
    # cleanlab orders each image's predictions by class; so do we, from here on.
    preds = tuple(_by_class(predictions[r.id], config.min_prediction_score) for r in records)
    if not records:
        return LabelScores((), np.zeros(0), (), (), (), (), (), 1.0)
    aux = _cleanlab_inputs(records, preds)
    high, low = config.high_probability_threshold, config.low_probability_threshold
    overlooked = rank.compute_overlooked_box_scores(
        auxiliary_inputs=aux, high_probability_threshold=high
    )
    overlooked = [
        _overlooked_in_crowds(o, a, high, config.covered_iou) for o, a in zip(overlooked, aux)
    ]
    swap = rank.compute_swap_box_scores(auxiliary_inputs=aux, high_probability_threshold=high)
    badloc = rank.compute_badloc_box_scores(auxiliary_inputs=aux, low_probability_threshold=low)
    spurious = [_spurious_scores(a) for a in aux]
    return LabelScores(
        tuple(r.id for r in records),
        _image_scores(overlooked, swap, badloc),
        preds,
        tuple(overlooked),
        tuple(swap),
        tuple(badloc),
        tuple(spurious),
        _model_recall(aux, low),
    )


def _by_class(d: Detections, floor: float) -> Detections:
    d = d.select(d.scores >= floor)
    return d.select(np.argsort(d.classes, kind="stable"))


def _cleanlab_inputs(records: Sequence, preds: Sequence[Detections]) -> list[dict]:
    """cleanlab's per-image "auxiliary inputs" (the keys its ``compute_*_box_scores``
    document), with its similarity, ALPHA x IoU + (1 - ALPHA) x exp(-EUC_FACTOR x
    centre distance), computed as one tensor operation per image instead of its
    Python loop over box pairs. The min possible similarity is over the whole dataset."""
    aux = []
    for r, d in zip(records, preds):
        lab, pred = np.array(r.boxes, np.float64), d.boxes.astype(np.float64)  # (L, 4), (M, 4)
        iou = box_iou(torch.from_numpy(lab), torch.from_numpy(pred)).numpy()  # (L, M)
        centres = (lab[:, :2] + lab[:, 2:]) / 2, (pred[:, :2] + pred[:, 2:]) / 2
        dist = np.linalg.norm(centres[0][:, None] - centres[1][None], axis=2)  # (L, M)
        aux.append(
            {
                "pred_labels": d.classes,
                "pred_label_probs": d.scores.astype(np.float64),
                "pred_bboxes": pred,
                "lab_labels": np.array(r.classes),
                "lab_bboxes": lab,
                "similarity_matrix": ALPHA * iou + (1 - ALPHA) * np.exp(-dist * EUC_FACTOR),
                "iou_matrix": iou,
            }
        )
    nonzero = [a["similarity_matrix"][a["similarity_matrix"] > 0] for a in aux]
    least = min((float(v.min()) for v in nonzero if len(v)), default=1.0)
    for a in aux:
        a["min_possible_similarity"] = least
    return aux


def _overlooked_in_crowds(
    scores: np.ndarray, aux: dict, high: float, covered_iou: float
) -> np.ndarray:
    """cleanlab's overlooked scores, also for confident predictions that merely touch
    a label. cleanlab leaves any prediction overlapping a label at all unscored (NaN);
    in a crowded image (blood cells, shapes) a missed object always touches a
    neighbour. Those overlapping no label by ``covered_iou`` get cleanlab's formula:
    the similarity to the nearest label of their class."""
    scores = scores.copy()
    iou, sim = aux["iou_matrix"], aux["similarity_matrix"]  # (L, M)
    for m in np.flatnonzero(np.isnan(scores)):
        if aux["pred_label_probs"][m] < high or (len(iou) and iou[:, m].max() >= covered_iou):
            continue
        same = sim[aux["lab_labels"] == aux["pred_labels"][m], m]
        scores[m] = (
            same.max()
            if len(same)
            else aux["min_possible_similarity"] * (1 - aux["pred_label_probs"][m])
        )
    return scores


def _image_scores(overlooked, swap, badloc) -> np.ndarray:
    """cleanlab's image label quality: the weighted geometric mean of the
    softmin-pooled subtype scores (the arithmetic of get_label_quality_scores, on the
    box scores at hand; a test holds the two equal)."""
    weighted = [
        (CUSTOM_SCORE_WEIGHT_OVERLOOKED, overlooked),
        (CUSTOM_SCORE_WEIGHT_SWAP, swap),
        (CUSTOM_SCORE_WEIGHT_BADLOC, badloc),
    ]
    return np.exp(sum(w * np.log(TINY_VALUE + pool_box_scores_per_image(s)) for w, s in weighted))


def _model_recall(aux: Sequence[dict], low: float) -> float:
    found = total = 0
    for a in aux:
        iou = a["iou_matrix"]  # (L, M)
        same = a["lab_labels"][:, None] == a["pred_labels"][None, :]
        hit = (iou >= 0.5) & same & (a["pred_label_probs"][None, :] > low)
        found += int(hit.any(axis=1).sum()) if iou.shape[1] else 0
        total += len(iou)
    return found / total if total else 1.0


def _spurious_scores(aux: dict) -> np.ndarray:
    """Per labelled box (L,): the best IoU x score over predictions of any class."""
    iou = aux["iou_matrix"]  # (L, M)
    if iou.shape[1] == 0:
        return np.zeros(len(iou))
    return (iou * aux["pred_label_probs"][None, :]).max(axis=1)


# -- issues -----------------------------------------------------------------------------------


def label_issues(
    ds: Dataset, scores: LabelScores, config: LabelCheckConfig = LabelCheckConfig()
) -> list[Issue]:
    """One :class:`LabelIssue` per box scoring at most its subtype's threshold, the
    surest first (:func:`severity_key`). A labelled box gets at most one issue, the
    first that applies of: spurious, wrong class, bad location. When the model finds
    fewer than ``min_model_recall`` of the labelled boxes, one ``label_model_too_weak``
    warning instead: a weak model would call most labels spurious."""
    if scores.model_recall < config.min_model_recall:
        return [
            Issue(
                MODEL_TOO_WEAK,
                Severity.WARNING,
                f"the model finds only {scores.model_recall:.0%} of the labelled boxes "
                f"(IoU >= 0.5, score > {config.low_probability_threshold:g}; "
                f"at least {config.min_model_recall:.0%} needed): too weak to judge the labels. "
                "Give a better model, or train the folds longer (--fold-epochs)",
            )
        ]
    issues: list[LabelIssue] = []
    names = ds.class_names
    for k, image_id in enumerate(scores.image_ids):
        r, pred = ds[image_id], scores.predictions[k]
        path = relative_name(r.path, ds.root) if ds.root else str(r.path)

        # Called only within this iteration; the defaults bind this image's values anyway.
        def issue(
            code: str,
            score: float,
            message: str,
            box: int | None,
            p: int | None,
            *,
            pred=pred,
            path=path,
            image_id=image_id,
        ) -> LabelIssue:
            predicted = (
                {}
                if p is None
                else dict(
                    predicted_box=tuple(round(float(v), 2) for v in pred.boxes[p]),
                    predicted_class=int(pred.classes[p]),
                    predicted_score=round(float(pred.scores[p]), 4),
                )
            )
            return LabelIssue(
                code,
                Severity.WARNING,
                f"{message} (label score {score:.3f})",
                path=path,
                location=None if box is None else f"box {box}",
                image_id=image_id,
                score=round(float(score), 4),
                box=box,
                **predicted,
            )

        for p, s in enumerate(scores.overlooked[k]):
            if s <= config.max_missing_score:  # NaN compares False: not an overlooked candidate
                issues.append(
                    issue(
                        "label_missing_box",
                        s,
                        f"the model sees a {names[pred.classes[p]]} at {_xyxy(pred.boxes[p])} "
                        f"(score {pred.scores[p]:.2f}) that no label covers",
                        None,
                        p,
                    )
                )
        proper = (r.boxes[:, 2] > r.boxes[:, 0]) & (r.boxes[:, 3] > r.boxes[:, 1])
        for i in np.flatnonzero(proper):  # a degenerate box is an error of its own (box_degenerate)
            i = int(i)
            label = f"{names[r.classes[i]]} box {_xyxy(r.boxes[i])}"
            if scores.spurious[k][i] <= config.spurious_score:
                code, s = "label_spurious_box", scores.spurious[k][i]
            elif scores.swap[k][i] <= config.max_wrong_class_score:
                # before bad location: with the wrong class, the box is compared with
                # predictions of that wrong class, and its placement means nothing
                code, s = "label_wrong_class", scores.swap[k][i]
            elif scores.badloc[k][i] <= config.max_bad_location_score:
                code, s = "label_bad_location", scores.badloc[k][i]
            else:
                continue
            p = _evidence(code, r.boxes[i], r.classes[i], pred, config)
            if code == "label_wrong_class" and p is None:
                # cleanlab's swap score for a box labelled twice with two classes
                what = f"{label} is also labelled as another class: one object, two classes?"
            elif code == "label_wrong_class":
                what = (
                    f"{label}: the model sees a {names[pred.classes[p]]} here "
                    f"(score {pred.scores[p]:.2f})"
                )
            elif code == "label_bad_location":
                what = (
                    f"{label} is badly placed: the model puts the {names[r.classes[i]]} "
                    f"at {_xyxy(pred.boxes[p])}"
                )
            else:
                what = f"{label}: the model sees nothing here; a label with no object?"
            issues.append(issue(code, s, what, i, p))
    return sorted(issues, key=lambda i: severity_key(i, config))


def severity_key(issue: LabelIssue, config: LabelCheckConfig = LabelCheckConfig()) -> float:
    """How sure the verdict is, for ranking issues of different subtypes together:
    the score over its subtype's threshold (0 surely wrong .. 1 at the threshold)."""
    return issue.score / max(_limit(config, issue.code), 1e-9)


def _limit(config: LabelCheckConfig, code: str) -> float:
    return {
        "label_missing_box": config.max_missing_score,
        "label_wrong_class": config.max_wrong_class_score,
        "label_bad_location": config.max_bad_location_score,
        "label_spurious_box": config.spurious_score,
    }[code]


def _evidence(
    code: str, box: np.ndarray, cls: int, pred: Detections, config: LabelCheckConfig
) -> int | None:
    """The prediction behind a verdict on a labelled box: the most overlapping
    confident prediction of another class (wrong class) or of its class (bad
    location); None for a spurious box."""
    if code == "label_spurious_box" or len(pred) == 0:
        return None
    iou = box_iou(torch.from_numpy(np.array(box)[None]), torch.from_numpy(pred.boxes)).numpy()[
        0
    ]  # (M,)
    if code == "label_wrong_class":
        usable = (pred.classes != cls) & (pred.scores > config.high_probability_threshold)
    else:
        usable = (pred.classes == cls) & (pred.scores > config.low_probability_threshold)
    if not usable.any():
        return None
    return int(np.argmax(np.where(usable, iou, -1.0)))


def _xyxy(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in box.tolist()) + "]"


# -- the hook into validate_dataset -------------------------------------------------------------


@dataclass(frozen=True)
class LabelErrorCheck:
    """An :data:`yolops.quality.validate.ExtraCheck`: ``source`` is a model file
    (.pt or .onnx), a loaded predictor (a registry reference, loaded with
    :func:`yolops.track.resolve.load_model`) or ``"kfold"`` (train ``kfold.folds``
    models on the dataset)."""

    source: str | Path | Predictor
    config: LabelCheckConfig = LabelCheckConfig()
    kfold: KFoldConfig = KFoldConfig()
    console: Console | None = None

    def predictions(self, ds: Dataset) -> dict[str, Detections]:
        if self.source == "kfold":
            return kfold_predictions(ds, self.kfold, self.console)
        return model_predictions(ds, self.source, conf=self.config.min_prediction_score)

    def __call__(self, ds: Dataset) -> list[Issue]:
        return label_issues(ds, label_scores(ds, self.predictions(ds), self.config), self.config)
