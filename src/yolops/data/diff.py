"""What changed between two datasets, image by image and box by box.

    d = diff_datasets(Dataset.load("bccd@v1"), Dataset.load("bccd@v2"))
    d.added, d.removed, d.changed      # ImageChange lists, by image id
    d.classes                          # boxes per class, before and after

Images are matched by id. An image in both changed when its bytes (SHA-256), its
size, its split or its boxes differ. Boxes of a changed image are matched in three
passes: the same class and coordinates (within 1e-3 px) are unchanged; the same class
overlapping at IoU >= ``move_iou`` moved; another class at IoU >= ``relabel_iou`` was
relabelled; what is left was removed (before) or added (after). Datasets loaded from
versions carry their images' digests; for folders the bytes are hashed here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from yolops.data.boxes import pairwise_iou
from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.objects import file_digest

SAME_BOX = 1e-3  # px: coordinates closer than this are the same box


@dataclass(frozen=True)
class BoxChanges:
    """Indices into the before and after boxes of one image."""

    removed: tuple[int, ...] = ()  # before
    added: tuple[int, ...] = ()  # after
    moved: tuple[tuple[int, int], ...] = ()  # (before, after), same class
    relabelled: tuple[tuple[int, int], ...] = ()  # (before, after), another class

    @property
    def any(self) -> bool:
        return bool(self.removed or self.added or self.moved or self.relabelled)


@dataclass(frozen=True)
class ImageChange:
    image_id: str
    kind: str  # "added", "removed" or "changed"
    before: ImageRecord | None
    after: ImageRecord | None
    pixels: bool = False  # the image bytes differ
    resized: bool = False
    split: tuple[str | None, str | None] | None = None  # (before, after) when it moved
    boxes: BoxChanges = field(default_factory=BoxChanges)

    def describe(self) -> str:
        if self.kind != "changed":
            record = self.after or self.before
            return f"{self.kind} ({len(record)} boxes)"
        parts = []
        if self.pixels:
            parts.append("new pixels")
        if self.resized:
            parts.append(
                f"size {self.before.width}x{self.before.height} -> "
                f"{self.after.width}x{self.after.height}"
            )
        if self.split:
            parts.append(f"split {self.split[0] or '-'} -> {self.split[1] or '-'}")
        b = self.boxes
        for n, what in (
            (len(b.added), "added"),
            (len(b.removed), "removed"),
            (len(b.moved), "moved"),
            (len(b.relabelled), "relabelled"),
        ):
            if n:
                parts.append(f"{n} box{'es' if n > 1 else ''} {what}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ClassDelta:
    name: str
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class DatasetDiff:
    before: str  # what the sides are called (a reference or a path)
    after: str
    added: list[ImageChange]
    removed: list[ImageChange]
    changed: list[ImageChange]
    unchanged: int
    classes: list[ClassDelta]
    class_names_before: tuple[str, ...]
    class_names_after: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed) and (
            self.class_names_before == self.class_names_after
        )

    @property
    def changes(self) -> list[ImageChange]:
        return self.added + self.removed + self.changed

    def box_totals(self) -> dict[str, int]:
        """Boxes added, removed, moved and relabelled over all images (the boxes of
        added and removed images included)."""
        totals = Counter()
        for c in self.changed:
            totals["added"] += len(c.boxes.added)
            totals["removed"] += len(c.boxes.removed)
            totals["moved"] += len(c.boxes.moved)
            totals["relabelled"] += len(c.boxes.relabelled)
        totals["added"] += sum(len(c.after) for c in self.added)
        totals["removed"] += sum(len(c.before) for c in self.removed)
        return {k: totals[k] for k in ("added", "removed", "moved", "relabelled")}

    def to_dict(self) -> dict:
        return {
            "before": self.before,
            "after": self.after,
            "images": {
                "added": [c.image_id for c in self.added],
                "removed": [c.image_id for c in self.removed],
                "changed": {c.image_id: c.describe() for c in self.changed},
                "unchanged": self.unchanged,
            },
            "boxes": self.box_totals(),
            "classes": {c.name: {"before": c.before, "after": c.after} for c in self.classes},
        }


def diff_datasets(
    before: Dataset,
    after: Dataset,
    move_iou: float = 0.5,
    relabel_iou: float = 0.9,
    before_name: str | None = None,
    after_name: str | None = None,
) -> DatasetDiff:
    """Every image added, removed or changed from ``before`` to ``after``, and the boxes
    per class on each side."""
    split_a = _split_of(before)
    split_b = _split_of(after)
    both = [i for i in before.ids if i in after]
    digests_a = _digests(before, both)
    digests_b = _digests(after, both)
    changed, unchanged = [], 0
    for image_id in both:
        change = _compare(
            before[image_id],
            after[image_id],
            before.class_names,
            after.class_names,
            digests_a[image_id] != digests_b[image_id],
            (split_a.get(image_id), split_b.get(image_id)),
            move_iou,
            relabel_iou,
        )
        if change is None:
            unchanged += 1
        else:
            changed.append(change)
    added = [ImageChange(r.id, "added", None, r) for r in after if r.id not in before]
    removed = [ImageChange(r.id, "removed", r, None) for r in before if r.id not in after]
    return DatasetDiff(
        before=before_name or _label(before),
        after=after_name or _label(after),
        added=added,
        removed=removed,
        changed=changed,
        unchanged=unchanged,
        classes=_class_deltas(before, after),
        class_names_before=before.class_names,
        class_names_after=after.class_names,
    )


def _label(ds: Dataset) -> str:
    return ds.version.ref if ds.version else str(ds.root or ds.name)


def _split_of(ds: Dataset) -> dict[str, str]:
    return {i: name for name, ids in ds.splits.items() for i in ids}


def _digests(ds: Dataset, ids: list[str]) -> dict[str, str]:
    """SHA-256 of the images ``ids``: a version knows them; a folder's are computed."""
    if ds.version is not None and ds.version.blobs:
        return {i: ds.version.blobs[i] for i in ids}
    return {i: file_digest(ds[i].path) for i in ids}


def _compare(
    a: ImageRecord,
    b: ImageRecord,
    names_a: tuple[str, ...],
    names_b: tuple[str, ...],
    pixels: bool,
    splits: tuple[str | None, str | None],
    move_iou: float,
    relabel_iou: float,
) -> ImageChange | None:
    boxes = match_boxes(
        a.boxes,
        [names_a[c] for c in a.classes],
        b.boxes,
        [names_b[c] for c in b.classes],
        move_iou,
        relabel_iou,
    )
    resized = (a.width, a.height) != (b.width, b.height)
    moved_split = splits if splits[0] != splits[1] else None
    if not (pixels or resized or moved_split or boxes.any):
        return None
    return ImageChange(a.id, "changed", a, b, pixels, resized, moved_split, boxes)


def match_boxes(
    boxes_a: np.ndarray,
    labels_a: list[str],
    boxes_b: np.ndarray,
    labels_b: list[str],
    move_iou: float = 0.5,
    relabel_iou: float = 0.9,
) -> BoxChanges:
    """Match the boxes of one image before and after (see the module docstring)."""
    left_a = list(range(len(boxes_a)))
    left_b = list(range(len(boxes_b)))
    # 1. the same box: same class, same coordinates
    for j in list(left_b):
        for i in left_a:
            if labels_a[i] == labels_b[j] and np.all(np.abs(boxes_a[i] - boxes_b[j]) <= SAME_BOX):
                left_a.remove(i)
                left_b.remove(j)
                break
    moved = _greedy(boxes_a, labels_a, boxes_b, labels_b, left_a, left_b, move_iou, True)
    relabelled = _greedy(boxes_a, labels_a, boxes_b, labels_b, left_a, left_b, relabel_iou, False)
    return BoxChanges(tuple(left_a), tuple(left_b), tuple(moved), tuple(relabelled))


def _greedy(boxes_a, labels_a, boxes_b, labels_b, left_a, left_b, threshold, same_class):
    """Pairs of the boxes left, best IoU first, at or above ``threshold``, of the same
    class (``same_class``) or of different classes; removes them from the lists."""
    if not left_a or not left_b:
        return []
    iou = pairwise_iou(boxes_a[left_a], boxes_b[left_b])
    same = np.array([[labels_a[i] == labels_b[j] for j in left_b] for i in left_a])
    iou[same != same_class] = -1
    pairs, rows, cols = [], set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < threshold:
            break
        if r in rows or c in cols:
            continue
        pairs.append((left_a[r], left_b[c]))
        rows.add(r)
        cols.add(c)
    for i, j in pairs:
        left_a.remove(i)
        left_b.remove(j)
    return pairs


def _class_deltas(before: Dataset, after: Dataset) -> list[ClassDelta]:
    counts_a = before.class_counts()
    counts_b = after.class_counts()
    names = list(before.class_names) + [n for n in after.class_names if n not in counts_a]
    return [ClassDelta(n, counts_a.get(n, 0), counts_b.get(n, 0)) for n in names]
