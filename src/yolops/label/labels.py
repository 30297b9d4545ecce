"""A task's labels as the studio stores and sends them, and their checks.

A label is ``{"box": [x1, y1, x2, y2], "cls": 0, "source": "human"}``: pixels of the
original image, a class index of the project. ``source`` says where it came from
(``human``, ``model`` for an accepted proposal, ``import``, ``consensus``);
``disputed`` marks a merged box that not all overlapping annotators drew.

What a client sends is checked, never repaired: a box outside the image, inverted,
not finite or of an unknown class is refused with its index and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from yolops.errors import LabelError

MAX_LABELS = 5000  # per task: more is a client bug, not a picture
SOURCES = ("human", "model", "import", "consensus")
# Coordinates are kept to 1/100 px: what a client sends back unchanged compares equal.
DECIMALS = 2


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelError(f"{where}: coordinates must be numbers, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise LabelError(f"{where}: coordinates must be finite, got {value!r}")
    return round(number, DECIMALS)


def check_labels(
    labels: object, num_classes: int, width: int | None, height: int | None
) -> list[dict]:
    """``labels`` as the studio stores them, or a :class:`LabelError` naming the first
    bad one (its index and what is wrong)."""
    if not isinstance(labels, list):
        raise LabelError("boxes must be a list of {box: [x1, y1, x2, y2], cls}")
    if len(labels) > MAX_LABELS:
        raise LabelError(f"{len(labels)} boxes is more than the {MAX_LABELS} a task may hold")
    out = []
    for i, label in enumerate(labels):
        where = f"box {i}"
        if not isinstance(label, dict) or "box" not in label or "cls" not in label:
            raise LabelError(f"{where}: expected {{box: [x1, y1, x2, y2], cls}}, got {label!r}")
        box = label["box"]
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise LabelError(f"{where}: box must be [x1, y1, x2, y2], got {box!r}")
        x1, y1, x2, y2 = (_number(v, where) for v in box)
        if not (x1 < x2 and y1 < y2):
            raise LabelError(f"{where}: [{x1}, {y1}, {x2}, {y2}] has no area (x1 < x2, y1 < y2)")
        if width is not None and height is not None:
            if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
                raise LabelError(
                    f"{where}: [{x1}, {y1}, {x2}, {y2}] is outside the {width}x{height} image"
                )
        cls = label["cls"]
        if isinstance(cls, bool) or not isinstance(cls, int) or not 0 <= cls < num_classes:
            raise LabelError(f"{where}: class {cls!r} is not one of 0..{num_classes - 1}")
        source = label.get("source", "human")
        if source not in SOURCES:
            source = "human"
        item = {"box": [x1, y1, x2, y2], "cls": cls, "source": source}
        if label.get("disputed"):
            item["disputed"] = True
        out.append(item)
    return out


def from_arrays(
    boxes: np.ndarray, classes: np.ndarray, source: str, scores: np.ndarray | None = None
) -> list[dict]:
    """Labels (or, with ``scores``, proposals) from canonical arrays."""
    out = []
    for i, (box, cls) in enumerate(zip(np.asarray(boxes, np.float64), classes)):
        item = {"box": [round(float(v), DECIMALS) for v in box], "cls": int(cls)}
        if scores is not None:
            item["score"] = round(float(scores[i]), 4)
        else:
            item["source"] = source
        out.append(item)
    return out


def to_arrays(labels: Iterable[dict]) -> tuple[np.ndarray, np.ndarray]:
    """``(boxes float32 (N, 4), classes int64 (N,))`` of labels or proposals."""
    labels = list(labels or ())
    boxes = np.array([lb["box"] for lb in labels], np.float32).reshape(-1, 4)
    classes = np.array([lb["cls"] for lb in labels], np.int64).reshape(-1)
    return boxes, classes


def _key(label: dict) -> tuple:
    return (*(round(float(v), DECIMALS) for v in label["box"]), int(label["cls"]))


def accepted_unchanged(proposals: Sequence[dict], labels: Sequence[dict]) -> int:
    """How many proposals appear among ``labels`` exactly (same box, same class)."""
    remaining: dict[tuple, int] = {}
    for label in labels:
        remaining[_key(label)] = remaining.get(_key(label), 0) + 1
    count = 0
    for proposal in proposals:
        key = _key(proposal)
        if remaining.get(key, 0) > 0:
            remaining[key] -= 1
            count += 1
    return count


def mark_sources(labels: list[dict], proposals: Sequence[dict]) -> list[dict]:
    """``labels`` with ``source: model`` on those that are a proposal unchanged (the
    client need not say so, and cannot claim it for a box it drew)."""
    keys = {_key(p) for p in proposals}
    out = []
    for label in labels:
        label = dict(label)
        if _key(label) in keys:
            label["source"] = "model"
        elif label.get("source") == "model":
            label["source"] = "human"  # moved or re-classed: a person's box now
        out.append(label)
    return out
