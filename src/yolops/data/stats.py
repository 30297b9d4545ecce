"""Dataset statistics: counts, box sizes and shapes, image sizes, load issues.

:func:`dataset_stats` computes a :class:`DatasetStats` (JSON-ready through
``to_dict``); :func:`render_stats` prints it as Rich tables. Box measures are in
pixels of the original image: width ``x2 - x1``, height ``y2 - y1``, area in px²,
aspect ratio ``width / height``.

Histogram bins are fixed, not fitted to the data, so two datasets (or two versions
of one) can be compared bin by bin.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.table import Table

from yolops.data.dataset import Dataset

UNASSIGNED = "unassigned"  # the column for images that are in no split
BOXES_PER_IMAGE_CAP = 10  # the last boxes-per-image bucket is "10+"
# Box area bins in px²: sides 4, 8, 16, ... 512 px, each bin 4x the area of the last.
AREA_EDGES = (0.0, *(float(4**k) for k in range(2, 10)), math.inf)
# Aspect ratio (w/h) bins, symmetric in log scale around 1 (square-ish: 2/3 .. 3/2).
ASPECT_EDGES = (0.0, 1 / 4, 1 / 2, 2 / 3, 3 / 2, 2.0, 4.0, math.inf)
QUANTILES = ("min", "p5", "median", "p95", "max")
MEASURES = ("width", "height", "area", "aspect")


@dataclass(frozen=True)
class Summary:
    """min, 5th percentile, median, 95th percentile and max of ``count`` values."""

    count: int
    min: float
    p5: float
    median: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: np.ndarray) -> Summary | None:
        """The summary of a 1-D array; None when it is empty."""
        if len(values) == 0:
            return None
        q = np.percentile(values.astype(np.float64), [0, 5, 50, 95, 100])
        return cls(len(values), *(float(v) for v in q))

    def to_dict(self) -> dict:
        return {"count": self.count, **{k: round(getattr(self, k), 4) for k in QUANTILES}}


@dataclass(frozen=True)
class Histogram:
    """Counts per bin and per class over fixed ``edges`` (len = bins + 1).

    Bin ``i`` holds values in ``[edges[i], edges[i + 1])``; ``counts`` maps a class
    name to its per-bin counts."""

    edges: tuple[float, ...]
    labels: tuple[str, ...]
    counts: dict[str, tuple[int, ...]]

    def totals(self) -> tuple[int, ...]:
        """Counts per bin over all classes."""
        if not self.counts:
            return (0,) * len(self.labels)
        return tuple(int(v) for v in np.sum(list(self.counts.values()), axis=0))

    def to_dict(self) -> dict:
        return {
            "edges": [e if math.isfinite(e) else None for e in self.edges],
            "labels": list(self.labels),
            "counts": {k: list(v) for k, v in self.counts.items()},
            "total": list(self.totals()),
        }


@dataclass(frozen=True)
class DatasetStats:
    """What a dataset holds. Dict fields are keyed by class name, split name or bucket
    label, in class order and split order; treat them as read-only.

    ``splits`` lists the dataset's splits plus ``unassigned`` when some images are
    in none. ``box_sizes[class][measure]`` is a :class:`Summary` (None for a class
    without boxes); ``box_sizes_all`` is the same over every class. Boxes with zero
    or negative width or height count in ``degenerate_boxes`` and are left out of the
    aspect-ratio figures. ``issues_by_code[code][severity]`` counts ``ds.issues``.
    """

    name: str
    class_names: tuple[str, ...]
    splits: tuple[str, ...]
    images: int
    images_per_split: dict[str, int]
    boxes: int
    boxes_per_split: dict[str, int]
    boxes_per_class: dict[str, int]
    boxes_per_class_per_split: dict[str, dict[str, int]]
    images_per_class: dict[str, int]
    images_without_boxes: int
    boxes_per_image: dict[str, int]
    degenerate_boxes: int
    box_sizes: dict[str, dict[str, Summary | None]]
    box_sizes_all: dict[str, Summary | None]
    area_histogram: Histogram
    aspect_histogram: Histogram
    image_sizes: dict[tuple[int, int], int]
    issues_by_code: dict[str, dict[str, int]]
    issues_by_severity: dict[str, int]

    def to_dict(self) -> dict:
        """Plain JSON types only: image sizes become a list, quantiles are rounded."""

        def sizes(d: dict[str, Summary | None]) -> dict:
            return {m: (s.to_dict() if s else None) for m, s in d.items()}

        return {
            "name": self.name,
            "class_names": list(self.class_names),
            "splits": list(self.splits),
            "images": self.images,
            "images_per_split": dict(self.images_per_split),
            "boxes": self.boxes,
            "boxes_per_split": dict(self.boxes_per_split),
            "boxes_per_class": dict(self.boxes_per_class),
            "boxes_per_class_per_split": {
                k: dict(v) for k, v in self.boxes_per_class_per_split.items()
            },
            "images_per_class": dict(self.images_per_class),
            "images_without_boxes": self.images_without_boxes,
            "boxes_per_image": dict(self.boxes_per_image),
            "degenerate_boxes": self.degenerate_boxes,
            "box_sizes": {c: sizes(d) for c, d in self.box_sizes.items()},
            "box_sizes_all": sizes(self.box_sizes_all),
            "area_histogram": self.area_histogram.to_dict(),
            "aspect_histogram": self.aspect_histogram.to_dict(),
            "image_sizes": [
                {"width": w, "height": h, "images": n} for (w, h), n in self.image_sizes.items()
            ],
            "issues_by_code": {k: dict(v) for k, v in self.issues_by_code.items()},
            "issues_by_severity": dict(self.issues_by_severity),
        }


# -- computing -----------------------------------------------------------------------


def dataset_stats(ds: Dataset) -> DatasetStats:
    """Count and measure everything in ``ds`` (annotations only; no image is read)."""
    names = ds.class_names
    split_of = {i: s for s, ids in ds.splits.items() for i in ids}
    splits = tuple(ds.splits) + ((UNASSIGNED,) if len(split_of) < len(ds) else ())
    image_split = np.array(
        [splits.index(split_of.get(r.id, UNASSIGNED)) for r in ds.records], np.int64
    )  # (images,) index into splits

    boxes = np.concatenate([r.boxes for r in ds.records] or [np.zeros((0, 4), np.float32)])
    classes = np.concatenate([r.classes for r in ds.records] or [np.zeros(0, np.int64)])
    box_split = np.repeat(image_split, [len(r) for r in ds.records])  # (boxes,)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    proper = (w > 0) & (h > 0)
    aspect = np.divide(w, h, out=np.zeros_like(w), where=proper)
    # An inverted box (w < 0 and h < 0) has no area, not a positive one.
    area = np.where(proper, w * h, 0).astype(np.float32)
    measures = {"width": w, "height": h, "area": area, "aspect": aspect}

    # (classes, splits) box counts in one pass
    table = np.bincount(
        classes * len(splits) + box_split, minlength=len(names) * len(splits)
    ).reshape(len(names), len(splits))
    per_class_split = {
        c: {s: int(table[k, j]) for j, s in enumerate(splits)} for k, c in enumerate(names)
    }
    split_counts = np.bincount(image_split, minlength=len(splits))
    present = Counter(int(k) for r in ds.records for k in np.unique(r.classes))

    def sizes(select: np.ndarray) -> dict[str, Summary | None]:
        return {
            m: Summary.of(v[select & proper] if m == "aspect" else v[select])
            for m, v in measures.items()
        }

    return DatasetStats(
        name=ds.name,
        class_names=names,
        splits=splits,
        images=len(ds),
        images_per_split={s: int(n) for s, n in zip(splits, split_counts, strict=True)},
        boxes=len(boxes),
        boxes_per_split={s: int(n) for s, n in zip(splits, table.sum(axis=0), strict=True)},
        boxes_per_class={c: sum(per_class_split[c].values()) for c in names},
        boxes_per_class_per_split=per_class_split,
        images_per_class={c: present[k] for k, c in enumerate(names)},
        images_without_boxes=sum(1 for r in ds.records if len(r) == 0),
        boxes_per_image=_boxes_per_image(ds),
        degenerate_boxes=int(np.sum(~proper)),
        box_sizes={c: sizes(classes == k) for k, c in enumerate(names)},
        box_sizes_all=sizes(np.ones(len(boxes), bool)),
        area_histogram=_histogram(area, classes, names, AREA_EDGES, _area_labels()),
        aspect_histogram=_histogram(
            aspect[proper], classes[proper], names, ASPECT_EDGES, _aspect_labels()
        ),
        image_sizes=dict(Counter((r.width, r.height) for r in ds.records).most_common()),
        issues_by_code=_issues_by_code(ds),
        issues_by_severity=dict(ds.issues.by_severity()),
    )


def _boxes_per_image(ds: Dataset) -> dict[str, int]:
    """Images per box count: buckets "0" .. "9" then "10+", all present."""
    cap = BOXES_PER_IMAGE_CAP
    counts = np.bincount([min(len(r), cap) for r in ds.records], minlength=cap + 1)
    labels = [str(k) for k in range(cap)] + [f"{cap}+"]
    return dict(zip(labels, (int(v) for v in counts), strict=True))


def _histogram(
    values: np.ndarray,
    classes: np.ndarray,
    names: tuple[str, ...],
    edges: tuple[float, ...],
    labels: tuple[str, ...],
) -> Histogram:
    # side="right" puts a value equal to an edge in the bin that starts there.
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    counts = {
        c: tuple(int(v) for v in np.bincount(bins[classes == k], minlength=len(edges) - 1))
        for k, c in enumerate(names)
    }
    return Histogram(tuple(edges), labels, counts)


def _area_labels() -> tuple[str, ...]:
    sides = [int(math.isqrt(int(e))) for e in AREA_EDGES[1:-1]]
    inner = [f"{a}²–{b}²" for a, b in zip(sides, sides[1:])]
    return (f"<{sides[0]}²", *inner, f"≥{sides[-1]}²")


def _aspect_labels() -> tuple[str, ...]:
    return ("<1/4", "1/4–1/2", "1/2–2/3", "2/3–3/2", "3/2–2", "2–4", "≥4")


def _issues_by_code(ds: Dataset) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for issue in ds.issues:
        out.setdefault(issue.code, Counter())[issue.severity.value] += 1
    return {code: dict(c) for code, c in sorted(out.items())}


# -- rendering -------------------------------------------------------------------------

_EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(value: float, largest: float, width: int = 30) -> str:
    """A horizontal bar of block characters, ``width`` cells for ``largest``."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def render_stats(stats: DatasetStats, console: Console) -> None:
    """Print ``stats`` as Rich tables: overview, classes, boxes per image, box sizes,
    area and aspect histograms, image sizes, load issues."""
    for table in (
        _overview_table(stats),
        _class_table(stats),
        _boxes_per_image_table(stats),
        _size_table(stats),
        _histogram_table("Box area (px²)", stats.area_histogram),
        _histogram_table("Box aspect ratio (w/h)", stats.aspect_histogram),
        _image_size_table(stats),
    ):
        console.print(table)
    if stats.issues_by_code:
        console.print(_issue_table(stats))
    else:
        console.print("No load issues.")


def _overview_table(s: DatasetStats) -> Table:
    t = Table(title=f"Dataset {s.name}", show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("images", str(s.images))
    for split in s.splits:
        t.add_row(
            f"  {split}",
            f"{s.images_per_split[split]} ({_share(s.images_per_split[split], s.images)})",
        )
    t.add_row("boxes", str(s.boxes))
    t.add_row("classes", str(len(s.class_names)))
    t.add_row("images without boxes", str(s.images_without_boxes))
    if s.degenerate_boxes:
        t.add_row("degenerate boxes (w or h <= 0)", str(s.degenerate_boxes))
    return t


def _class_table(s: DatasetStats) -> Table:
    t = Table(title="Boxes per class")
    t.add_column("class")
    for split in s.splits:
        t.add_column(split, justify="right")
    t.add_column("total", justify="right")
    t.add_column("share", justify="right")
    t.add_column("images", justify="right")
    for c in s.class_names:
        per = s.boxes_per_class_per_split[c]
        t.add_row(
            c,
            *(str(per[split]) for split in s.splits),
            str(s.boxes_per_class[c]),
            _share(s.boxes_per_class[c], s.boxes),
            str(s.images_per_class[c]),
        )
    t.add_section()
    t.add_row(
        "all", *(str(s.boxes_per_split[x]) for x in s.splits), str(s.boxes), "", str(s.images)
    )
    return t


def _boxes_per_image_table(s: DatasetStats) -> Table:
    t = Table(title="Boxes per image")
    t.add_column("boxes", justify="right")
    t.add_column("images", justify="right")
    t.add_column("")
    largest = max(s.boxes_per_image.values(), default=0)
    for bucket, n in s.boxes_per_image.items():
        t.add_row(bucket, str(n), _bar(n, largest))
    return t


def _size_table(s: DatasetStats) -> Table:
    t = Table(title="Box sizes (px; area px²; aspect w/h)")
    for col in ("class", "measure", "boxes", *QUANTILES):
        t.add_column(col, justify="left" if col in ("class", "measure") else "right")
    groups = [*s.box_sizes.items(), ("all", s.box_sizes_all)]
    for i, (c, sizes) in enumerate(groups):
        for m in MEASURES:
            summary = sizes[m]
            values = [_num(getattr(summary, q)) for q in QUANTILES] if summary else ["-"] * 5
            count = str(summary.count) if summary else "0"
            t.add_row(c if m == MEASURES[0] else "", m, count, *values)
        if i < len(groups) - 1:
            t.add_section()
    return t


def _histogram_table(title: str, hist: Histogram) -> Table:
    t = Table(title=title)
    t.add_column("bin")
    for c in hist.counts:
        t.add_column(c, justify="right")
    t.add_column("total", justify="right")
    t.add_column("")
    totals = hist.totals()
    largest = max(totals, default=0)
    for i, label in enumerate(hist.labels):
        t.add_row(
            label,
            *(str(v[i]) for v in hist.counts.values()),
            str(totals[i]),
            _bar(totals[i], largest, 24),
        )
    return t


def _image_size_table(s: DatasetStats, top: int = 10) -> Table:
    t = Table(title="Image sizes")
    t.add_column("width × height")
    t.add_column("images", justify="right")
    t.add_column("share", justify="right")
    for (w, h), n in list(s.image_sizes.items())[:top]:
        t.add_row(f"{w} × {h}", str(n), _share(n, s.images))
    rest = list(s.image_sizes.values())[top:]
    if rest:
        t.add_row(f"… {len(rest)} more sizes", str(sum(rest)), _share(sum(rest), s.images))
    return t


def _issue_table(s: DatasetStats) -> Table:
    t = Table(title="Load issues")
    t.add_column("code")
    t.add_column("severity")
    t.add_column("count", justify="right")
    for code, by_severity in s.issues_by_code.items():
        for severity, n in by_severity.items():
            t.add_row(code, severity, str(n))
    return t
