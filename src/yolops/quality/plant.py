"""Known defects planted in a clean dataset, to measure what the checks find.

:func:`plant_defects` copies a dataset into a new folder and spoils chosen images
and boxes in known ways: darkened, over-exposed, blurred, blanked and truncated
images; exact and near-duplicate copies within and across splits; duplicate,
conflicting, degenerate, out-of-bounds and tiny boxes; images stripped of their
labels; and label errors (dropped boxes, flipped classes, shifted boxes, spurious
boxes where there is no object) for the label-error checks of
:mod:`yolops.quality.labels`. It returns the new dataset and the list of
:class:`PlantedDefect`; :func:`recall` scores issues against that truth.
For tests, benchmarks and the demo; never for real data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.formats._write import place_image
from yolops.data.images import read_image
from yolops.errors import YolopsError
from yolops.issues import Issue
from yolops.model.boxes import box_iou
from yolops.quality.validate import validate_dataset

if TYPE_CHECKING:
    from yolops.quality.validate import QualityReport

# Which issue codes find each kind of defect. The label errors (LABEL_KINDS) need a
# model's opinion: yolops.quality.labels finds them, the other checks cannot.
DETECTED_BY: dict[str, tuple[str, ...]] = {
    "dark": ("image_dark",),
    "bright": ("image_bright",),
    "blur": ("image_blurry",),
    "blank": ("image_low_information",),
    "corrupt": ("image_corrupt",),
    "duplicate_across_splits": ("split_leakage",),
    "near_duplicate_across_splits": ("split_leakage",),
    "duplicate_within_split": ("image_duplicate",),
    "duplicate_box": ("box_duplicate",),
    "class_conflict_box": ("box_class_conflict",),
    "degenerate_box": ("box_degenerate",),
    "out_of_bounds_box": ("box_out_of_bounds",),
    "tiny_box": ("box_tiny",),
    "unlabelled_image": ("image_no_boxes",),
    "dropped_box": ("label_missing_box",),
    "flipped_class": ("label_wrong_class",),
    "shifted_box": ("label_bad_location",),
    "spurious_box": ("label_spurious_box",),
}
KINDS = tuple(DETECTED_BY)
LABEL_KINDS = ("dropped_box", "flipped_class", "shifted_box", "spurious_box")
CHECK_KINDS = tuple(k for k in KINDS if k not in LABEL_KINDS)  # found without a model
_COPIES = ("duplicate_across_splits", "near_duplicate_across_splits", "duplicate_within_split")


@dataclass(frozen=True)
class PlantedDefect:
    """One planted defect: its ``kind`` (a key of :data:`DETECTED_BY`), the image it is
    in (for a copy: the copy's id), the box index in that image's new boxes when the
    defect is one box (None otherwise), a note (the source image, the old box), and
    for box defects the box's xyxy pixels (a dropped box's as it was)."""

    kind: str
    image_id: str
    box: int | None = None
    detail: str = ""
    xyxy: tuple[float, float, float, float] | None = (
        None  # the box concerned (a dropped one: as it was)
    )


def plant_defects(
    ds: Dataset,
    out_dir: str | Path,
    seed: int = 0,
    per_kind: int = 3,
    kinds: Sequence[str] = KINDS,
) -> tuple[Dataset, list[PlantedDefect]]:
    """A copy of ``ds`` under ``out_dir/images`` with ``per_kind`` defects of each of
    ``kinds``, each on a different image (copies are added as new images). ``ds``
    needs at least two splits for the cross-split kinds, and enough images with boxes."""
    unknown = [k for k in kinds if k not in DETECTED_BY]
    if unknown:
        raise YolopsError(f"plant_defects: unknown kinds {unknown}; choose from {', '.join(KINDS)}")
    if any(k in _COPIES for k in kinds) and len([s for s in ds.splits.values() if s]) < 2:
        raise YolopsError(
            f"plant_defects: dataset {ds.name!r} needs two non-empty splits "
            "to plant copies across splits"
        )
    images_dir = Path(out_dir).absolute() / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with_boxes = [r.id for r in ds if len(r) > 0]
    order = rng.permutation(with_boxes).tolist()
    need = per_kind * len(kinds)
    if need > len(order):
        raise YolopsError(
            f"plant_defects: {need} defects need {need} images with boxes; "
            f"{ds.name!r} has {len(order)}"
        )
    records = {r.id: _relink(r, images_dir) for r in ds}
    splits = {k: list(v) for k, v in ds.splits.items()}
    truth: list[PlantedDefect] = []
    for n, kind in enumerate(kinds):
        for image_id in order[n * per_kind : (n + 1) * per_kind]:
            truth.append(_plant(kind, records, splits, ds, image_id, images_dir, rng))
    planted = Dataset(
        records.values(),
        ds.class_names,
        splits=splits,
        name=f"{ds.name}+defects",
        root=images_dir.parent,
    )
    return planted, truth


def recall(
    truth: Iterable[PlantedDefect], issues: Iterable[Issue], kinds: Sequence[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Per kind planted (of ``kinds`` when given): (found, planted). A defect is found
    when an issue with one of its kind's codes names its image and, for a box
    defect, its box: the issue's location lists the box's index, or (a dropped box,
    which has no index any more) the issue's predicted box overlaps it (IoU >= 0.5)."""
    issues = list(issues)
    by_image: dict[str, list[Issue]] = {}
    for i in issues:
        by_image.setdefault(i.image_id, []).append(i)
    out: dict[str, list[int]] = {}
    for d in truth:
        if kinds is not None and d.kind not in kinds:
            continue
        hit = out.setdefault(d.kind, [0, 0])
        hit[0] += any(matches(i, d) for i in by_image.get(d.image_id, ()))
        hit[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def precision_at_k(
    ranked_ids: Sequence[str],
    truth: Iterable[PlantedDefect],
    k: int | None = None,
    kinds: Sequence[str] = LABEL_KINDS,
) -> float:
    """The share of the first ``k`` image ids of ``ranked_ids`` (most suspect first)
    that hold a planted defect of ``kinds``; ``k`` defaults to the number of such
    images, so 1.0 means the planted images are exactly the top of the ranking."""
    planted = {d.image_id for d in truth if d.kind in kinds}
    k = len(planted) if k is None else k
    top = list(ranked_ids)[:k]
    return sum(i in planted for i in top) / max(len(top), 1)


def matches(issue: Issue, d: PlantedDefect) -> bool:
    """Whether ``issue`` finds defect ``d`` (see :func:`recall`)."""
    if issue.image_id != d.image_id:
        return False
    if issue.code not in DETECTED_BY[d.kind]:
        return False
    if d.box is not None and issue.location and issue.location.startswith("box"):
        return d.box in {int(n) for n in re.findall(r"\d+", issue.location)}
    predicted = getattr(issue, "predicted_box", None)
    if d.kind == "dropped_box" and predicted is not None and d.xyxy is not None:
        return float(box_iou(torch.tensor([predicted]), torch.tensor([d.xyxy]))[0, 0]) >= 0.5
    return True


# -- one defect -------------------------------------------------------------------------


def _relink(r: ImageRecord, images_dir: Path) -> ImageRecord:
    dst = images_dir / r.path.name
    if not dst.exists():
        place_image(r.path, dst)
    return r.replace(path=dst)


def _plant(
    kind: str,
    records: dict[str, ImageRecord],
    splits: dict[str, list[str]],
    ds: Dataset,
    image_id: str,
    images_dir: Path,
    rng: np.random.Generator,
) -> PlantedDefect:
    r = records[image_id]
    if kind in ("dark", "bright", "blur", "blank"):
        image = read_image(r.path)
        records[image_id] = _rewrite(r, _spoil(kind, image), images_dir, kind)
        return PlantedDefect(kind, image_id)
    if kind == "corrupt":
        data = r.path.read_bytes()
        dst = images_dir / f"{r.path.stem}_corrupt{r.path.suffix}"
        dst.write_bytes(data[: len(data) * 6 // 10])  # truncated: a download cut short
        records[image_id] = r.replace(path=dst)
        return PlantedDefect(kind, image_id)
    if kind in _COPIES:
        return _copy(kind, records, splits, ds, r, images_dir)
    return _spoil_boxes(kind, records, r, ds.num_classes, rng)


def _spoil(kind: str, image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    if kind == "dark":
        f *= 0.2
    elif kind == "bright":
        f = 255 - (255 - f) * 0.1
    elif kind == "blur":
        f = cv2.GaussianBlur(f, (0, 0), 3.0)
    else:  # blank: the mean colour, as a lens cap or a dropped frame gives
        f[:] = f.reshape(-1, 3).mean(axis=0)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def _rewrite(
    r: ImageRecord,
    image: np.ndarray,
    images_dir: Path,
    tag: str,
    suffix: str | None = None,
    quality: int = 95,
) -> ImageRecord:
    suffix = suffix or r.path.suffix
    dst = images_dir / f"{r.path.stem}_{tag}{suffix}"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise YolopsError(f"{dst}: OpenCV could not encode the image")
    dst.write_bytes(data.tobytes())
    return r.replace(path=dst, width=image.shape[1], height=image.shape[0])


def _copy(
    kind: str,
    records: dict[str, ImageRecord],
    splits: dict[str, list[str]],
    ds: Dataset,
    r: ImageRecord,
    images_dir: Path,
) -> PlantedDefect:
    """Add a copy of ``r`` as a new image: exact or near (90 % size, JPEG 75, +12
    brightness), in ``r``'s split or in another one."""
    home = ds.split_of(r.id)
    others = [s for s, ids in ds.splits.items() if ids and s != home]
    target = home if kind == "duplicate_within_split" or home is None else others[0]
    new_id = f"{r.id}_{kind}"
    if kind == "near_duplicate_across_splits":
        image = read_image(r.path)
        size = (round(r.width * 0.9), round(r.height * 0.9))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        image = np.clip(image.astype(np.int16) + 12, 0, 255).astype(np.uint8)
        copy = _rewrite(r, image, images_dir, kind, suffix=".jpg", quality=75)
        scale = np.array([size[0] / r.width, size[1] / r.height] * 2, np.float32)
        copy = copy.replace(id=new_id, boxes=r.boxes * scale)
    else:
        dst = images_dir / f"{r.path.stem}_{kind}{r.path.suffix}"
        dst.write_bytes(r.path.read_bytes())
        copy = r.replace(id=new_id, path=dst)
    records[new_id] = copy
    if target is not None:
        splits[target].append(new_id)
    return PlantedDefect(kind, new_id, detail=f"copy of {r.id!r} ({home} -> {target})")


def _spoil_boxes(
    kind: str,
    records: dict[str, ImageRecord],
    r: ImageRecord,
    num_classes: int,
    rng: np.random.Generator,
) -> PlantedDefect:
    boxes, classes = r.boxes.copy(), r.classes.copy()
    sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    i = int(np.argmax(sides))  # the largest box: a 1 px jitter keeps its IoU > 0.9
    x1, y1, x2, y2 = boxes[i].tolist()
    other = int((classes[i] + 1 + rng.integers(max(num_classes - 1, 1))) % num_classes)
    detail = f"box {i} [{x1:g}, {y1:g}, {x2:g}, {y2:g}]"
    if kind in ("dropped_box", "flipped_class", "shifted_box", "unlabelled_image"):
        if kind == "dropped_box":
            boxes, classes = np.delete(boxes, i, 0), np.delete(classes, i)
        elif kind == "flipped_class":
            classes[i] = other
        elif kind == "shifted_box":
            dx = (x2 - x1) * rng.uniform(0.3, 0.5) * (1 if x2 + (x2 - x1) * 0.5 <= r.width else -1)
            boxes[i] = [x1 + dx, y1, x2 + dx, y2]
        else:
            boxes, classes = boxes[:0], classes[:0]
        records[r.id] = r.replace(boxes=boxes, classes=classes, attributes={})
        where = (
            None
            if kind == "unlabelled_image"
            else tuple(float(v) for v in (r.boxes[i] if kind == "dropped_box" else boxes[i]))
        )
        return PlantedDefect(
            kind, r.id, None if kind in ("dropped_box", "unlabelled_image") else i, detail, where
        )
    jitter = 1.0 if sides[i] >= 24 else 0.0
    if kind == "spurious_box":
        extra, cls = _empty_spot(r, x2 - x1, y2 - y1, rng), int(rng.integers(num_classes))
    else:
        extra, cls = {
            "duplicate_box": ([x1 + jitter, y1, x2 + jitter, y2], classes[i]),
            "class_conflict_box": ([x1, y1, x2, y2], other),
            "degenerate_box": ([x1, y1, x1, y2], classes[i]),
            "out_of_bounds_box": ([r.width - 12, y1, r.width + 10, y2], classes[i]),
            "tiny_box": ([x1, y1, x1 + 2, y1 + 2], classes[i]),
        }[kind]
    boxes = np.vstack([boxes, np.array(extra, np.float32)])
    classes = np.append(classes, cls)
    records[r.id] = r.replace(boxes=boxes, classes=classes, attributes={})
    return PlantedDefect(
        kind,
        r.id,
        len(boxes) - 1,
        f"added {extra} next to {detail}",
        tuple(float(v) for v in extra),
    )


def _empty_spot(
    r: ImageRecord, width: float, height: float, rng: np.random.Generator, tries: int = 200
) -> list[float]:
    """A ``width`` x ``height`` box inside the image that touches no labelled box;
    halved in size until one fits."""
    for _ in range(6):
        w, h = min(width, r.width - 1), min(height, r.height - 1)
        for _ in range(tries):
            x, y = rng.uniform(0, r.width - w), rng.uniform(0, r.height - h)
            clear = (
                (r.boxes[:, 2] <= x)
                | (r.boxes[:, 0] >= x + w)
                | (r.boxes[:, 3] <= y)
                | (r.boxes[:, 1] >= y + h)
            )
            if clear.all():
                return [round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)]
        width, height = width / 2, height / 2
    raise YolopsError(f"plant_defects: no empty spot for a spurious box in image {r.id!r}")


# -- plant, validate, score: the demo's quality step ----------------------------------------

DEMO_KINDS = (
    "dark",
    "blur",
    "duplicate_across_splits",
    "degenerate_box",
    "duplicate_box",
    "unlabelled_image",
)


@dataclass(frozen=True, eq=False)
class PlantedValidation:
    """What :func:`plant_and_validate` planted, what validation reported, and the recall."""

    report: QualityReport
    truth: list[PlantedDefect]
    recall: dict[str, tuple[int, int]]  # kind -> (found, planted)


def plant_and_validate(
    ds: Dataset,
    out_dir: str | Path,
    kinds: Sequence[str] = DEMO_KINDS,
    per_kind: int = 1,
    seed: int = 0,
) -> PlantedValidation:
    """Plant ``per_kind`` defects of each of ``kinds`` in a copy of ``ds`` under
    ``out_dir``, validate the copy, and score what validation found against what was planted."""
    planted, truth = plant_defects(ds, out_dir, seed=seed, per_kind=per_kind, kinds=kinds)
    report = validate_dataset(planted)
    return PlantedValidation(report, truth, recall(truth, report.issues))
