"""Several annotators' boxes for one image: matched, merged, and how far they agree.

Boxes are matched by IoU (one-to-one, Hungarian), whatever their class, so that a box
two people drew with different classes is one object they disagree about rather than
two objects. Each group of matched boxes becomes one label: the mean box, the class
most of its annotators chose (ties: the first annotator's). A group drawn by a
majority of the annotators is accepted; the others are kept as well, marked
``disputed`` for the reviewer to decide, so no annotator's box is lost.

Agreement of two annotations is the F1 of their match (IoU >= ``iou`` and the same
class); a task's agreement is the mean over all pairs of its annotators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

from yolops.data.boxes import pairwise_iou
from yolops.label.labels import DECIMALS

MATCH_IOU = 0.5


def match(a: np.ndarray, b: np.ndarray, iou: float = MATCH_IOU) -> list[tuple[int, int]]:
    """One-to-one pairs ``(i, j)`` of boxes ``a[i]``, ``b[j]`` with IoU >= ``iou``,
    maximising the total IoU."""
    if len(a) == 0 or len(b) == 0:
        return []
    overlap = pairwise_iou(a, b)
    rows, cols = linear_sum_assignment(-overlap)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if overlap[i, j] >= iou]


def f1(labels_a: Sequence[dict], labels_b: Sequence[dict], iou: float = MATCH_IOU) -> float:
    """F1 of two sets of labels: matched by IoU, counted only when the classes agree.
    Two empty sets agree fully."""
    if not labels_a and not labels_b:
        return 1.0
    a, ca = _arrays(labels_a)
    b, cb = _arrays(labels_b)
    hits = sum(1 for i, j in match(a, b, iou) if ca[i] == cb[j])
    return 2 * hits / (len(a) + len(b))


def agreement(annotations: Sequence[Sequence[dict]], iou: float = MATCH_IOU) -> float:
    """Mean pairwise F1 of several annotators' labels for one image (1.0 for one)."""
    pairs = list(combinations(annotations, 2))
    if not pairs:
        return 1.0
    return float(np.mean([f1(x, y, iou) for x, y in pairs]))


@dataclass
class _Group:
    members: list[tuple[int, dict]]  # (annotator index, label)

    def box(self) -> np.ndarray:
        return np.mean([m[1]["box"] for m in self.members], axis=0)


def merge(annotations: Sequence[Sequence[dict]], iou: float = MATCH_IOU) -> list[dict]:
    """One set of labels from several annotators' (see the module docstring)."""
    groups: list[_Group] = []
    for who, labels in enumerate(annotations):
        if not labels:
            continue
        boxes, _ = _arrays(labels)
        taken = set()
        if groups:
            centres = np.array([g.box() for g in groups])
            for gi, li in match(centres, boxes, iou):
                groups[gi].members.append((who, labels[li]))
                taken.add(li)
        groups.extend(_Group([(who, lb)]) for li, lb in enumerate(labels) if li not in taken)
    k = len(annotations)
    merged = []
    for group in groups:
        classes = Counter(lb["cls"] for _, lb in group.members)
        top = max(classes.values())
        cls = next(lb["cls"] for _, lb in group.members if classes[lb["cls"]] == top)
        label = {
            "box": [round(float(v), DECIMALS) for v in group.box()],
            "cls": int(cls),
            "source": "consensus" if k > 1 else group.members[0][1].get("source", "human"),
        }
        if k > 1 and (len(group.members) * 2 <= k or top * 2 <= k):
            label["disputed"] = True
        merged.append(label)
    return merged


def _arrays(labels: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array([lb["box"] for lb in labels], np.float64).reshape(-1, 4)
    return boxes, np.array([lb["cls"] for lb in labels], np.int64)
