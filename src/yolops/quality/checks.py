"""Anomaly checks on a detection dataset: each a small function returning Issues.

Codes are stable (reports, gates and tests match on them); messages name the image
and, for a box, its index in the image's loaded boxes (``location`` ``box 3`` or
``boxes 3 and 7``, counting from 0) and its xyxy pixel coordinates. A duplicate
image's location names the image it duplicates: ``duplicate of <image id>``.

Codes, severities and what they mean:

- box_degenerate (error): width or height <= 0
- box_out_of_bounds (warning): crosses the image border beyond a rounding tolerance
- box_tiny (warning): a side shorter than ``tiny_side`` px
- box_duplicate (warning): same class, IoU > ``duplicate_iou``: labelled twice
- box_class_conflict (warning): other class, IoU > ``conflict_iou``: one object, two classes
- image_no_boxes (info): an image without any box (a background image, or forgotten
  labels; background images are legitimate, so a note)
- image_duplicate (warning): the same bytes as another image of the same split
- image_near_duplicate (warning): pHash within ``near_duplicate_bits`` of another image
- split_leakage (error): an identical or near-identical image in another split
- class_imbalance (warning): most / least frequent class above ``imbalance_ratio``
- class_without_boxes (warning): a class of the class list that has no box
- split_missing_class (warning): a split with no box of a class the dataset has
- class_unknown (error): a class the schema does not list
- class_absent (warning): a schema class with no box here
- class_share_shift (warning): a class's share of boxes moved by > ``class_share_change``
- box_size_outside_schema, box_aspect_outside_schema, boxes_per_image_outside_schema,
  image_size_outside_schema, image_format_unexpected, image_mode_unexpected (schema):
  outside the schema's ranges or lists

"schema" severity: a warning against a given schema, info against one inferred
from the data being checked (there it only marks the outliers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from yolops.data.boxes import pairwise_iou
from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.formats._checks import BORDER_TOLERANCE, relative_name
from yolops.data.stats import DatasetStats
from yolops.issues import Issue, Severity
from yolops.quality.images import ImageScan, hamming
from yolops.quality.schema import BOX_MEASURES, Schema, box_measures

DUPLICATE_OF = (
    "duplicate of "  # location prefix of duplicate and leakage issues, then the other image id
)
MIN_HASH_CONTRAST = 0.01  # luma std (0..1) below which a perceptual hash means nothing


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds of the dataset checks (sizes in pixels of the original image)."""

    duplicate_iou: float = 0.9  # same class above this IoU: the object is labelled twice
    conflict_iou: float = 0.8  # different classes above this IoU: one object, two classes
    tiny_side: float = 4.0  # px: a box side below this is too small to learn from
    border_tolerance: float = BORDER_TOLERANCE  # px a box may cross the border (rounding)
    near_duplicate_bits: int = 6  # of 64 pHash bits; unrelated images differ in ~32
    imbalance_ratio: float = 10.0  # boxes of the most over the least frequent class
    class_share_change: float = 0.1  # largest allowed change of a class's share vs the schema


# -- what loading found ------------------------------------------------------------------


def loader_issues(ds: Dataset) -> list[Issue]:
    """Everything the format reader reported (records and boxes it set aside, warnings)."""
    return list(ds.issues)


# -- boxes ---------------------------------------------------------------------------------


def check_boxes(ds: Dataset, config: CheckConfig = CheckConfig()) -> list[Issue]:
    """Degenerate (width or height <= 0), out-of-bounds and tiny boxes."""
    issues = []
    for r in ds:
        m = box_measures(r.boxes)
        x1, y1, x2, y2 = r.boxes.T if len(r) else (np.zeros(0),) * 4
        tol = config.border_tolerance
        outside = (x1 < -tol) | (y1 < -tol) | (x2 > r.width + tol) | (y2 > r.height + tol)
        for i in range(len(r)):
            if not m["proper"][i]:
                issues.append(
                    _box_issue(
                        ds,
                        r,
                        i,
                        "box_degenerate",
                        Severity.ERROR,
                        f"has width {m['width'][i]:g} and height {m['height'][i]:g} (must be > 0)",
                    )
                )
                continue
            if outside[i]:
                issues.append(
                    _box_issue(
                        ds,
                        r,
                        i,
                        "box_out_of_bounds",
                        Severity.WARNING,
                        f"crosses the border of the {r.width}x{r.height} image",
                    )
                )
            if min(m["width"][i], m["height"][i]) < config.tiny_side:
                issues.append(
                    _box_issue(
                        ds,
                        r,
                        i,
                        "box_tiny",
                        Severity.WARNING,
                        f"is {m['width'][i]:g}x{m['height'][i]:g} px "
                        f"(a side < {config.tiny_side:g} px)",
                    )
                )
    return issues


def check_overlapping_boxes(ds: Dataset, config: CheckConfig = CheckConfig()) -> list[Issue]:
    """Pairs of boxes in one image that cover the same object: the same class above
    ``duplicate_iou`` (labelled twice), different classes above ``conflict_iou``."""
    issues = []
    for r in ds:
        if len(r) < 2:
            continue
        iou = pairwise_iou(r.boxes, r.boxes)
        same = r.classes[:, None] == r.classes[None, :]
        upper = np.triu(np.ones_like(same), k=1)
        for i, j in zip(*np.nonzero(upper & same & (iou > config.duplicate_iou))):
            issues.append(
                _pair_issue(
                    ds,
                    r,
                    i,
                    j,
                    "box_duplicate",
                    Severity.WARNING,
                    iou[i, j],
                    "same class: the object is labelled twice?",
                )
            )
        for i, j in zip(*np.nonzero(upper & ~same & (iou > config.conflict_iou))):
            issues.append(
                _pair_issue(
                    ds,
                    r,
                    i,
                    j,
                    "box_class_conflict",
                    Severity.WARNING,
                    iou[i, j],
                    "different classes on one object",
                )
            )
    return issues


def check_empty_images(ds: Dataset) -> list[Issue]:
    """Images without boxes: a deliberate background image, or forgotten labels. A
    note, not a warning: background images belong in a good dataset, and a gate on
    warnings must pass one."""
    return [
        _image_issue(
            ds,
            r,
            "image_no_boxes",
            Severity.INFO,
            "image has no boxes (a deliberate background image, or missing labels?)",
        )
        for r in ds
        if len(r) == 0
    ]


# -- duplicate images and split leakage --------------------------------------------------


def check_duplicate_images(
    ds: Dataset, scans: Mapping[str, ImageScan], config: CheckConfig = CheckConfig()
) -> list[Issue]:
    """Exact (same bytes) and near (pHash within ``near_duplicate_bits``) duplicate
    images. Duplicates are grouped; every member but the first (in dataset order) is
    reported against the first: ``split_leakage`` (error) when their splits differ,
    ``image_duplicate`` / ``image_near_duplicate`` (warning) otherwise."""
    records = [r for r in ds if r.id in scans and scans[r.id].ok]
    if len(records) < 2:
        return []
    hashes = np.array([scans[r.id].phash for r in records], np.uint64)  # (N,)
    shas = [scans[r.id].sha256 for r in records]
    # A flat image's pHash is all noise (every blank frame hashes alike): such images
    # match by their bytes only.
    hashable = np.array([scans[r.id].stats["contrast"] >= MIN_HASH_CONTRAST for r in records])
    near = _near_pairs(hashes, config.near_duplicate_bits)  # (P, 2)
    near = near[hashable[near[:, 0]] & hashable[near[:, 1]]]
    pairs = np.concatenate([near, _exact_pairs(shas)])
    n = len(records)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    first: dict[int, int] = {}
    issues = []
    for k in range(n):
        g = int(group[k])
        if g not in first:
            first[g] = k
            continue
        issues.append(
            _duplicate_issue(ds, records[first[g]], records[k], hashes, shas, first[g], k)
        )
    return issues


def _exact_pairs(shas: list[str]) -> np.ndarray:
    """(P, 2) pairs chaining each image to the first with the same bytes."""
    first: dict[str, int] = {}
    pairs = [(first.setdefault(h, k), k) for k, h in enumerate(shas)]
    return np.array([p for p in pairs if p[0] != p[1]], np.int64).reshape(-1, 2)


def _near_pairs(hashes: np.ndarray, max_bits: int, block: int = 1024) -> np.ndarray:
    """Index pairs (i < j) whose hashes differ in at most ``max_bits``: (P, 2) int64.
    Blocked, so memory stays at block x N however large the dataset."""
    found = []
    for start in range(0, len(hashes), block):
        d = hamming(hashes[start : start + block, None], hashes[None, :])  # (B, N)
        i, j = np.nonzero(d <= max_bits)
        i += start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


def _duplicate_issue(
    ds: Dataset, a: ImageRecord, b: ImageRecord, hashes, shas, i: int, k: int
) -> Issue:
    exact = shas[i] == shas[k]
    how = (
        "identical to"
        if exact
        else f"a near-duplicate ({int(hamming(hashes[i], hashes[k]))} pHash bits apart) of"
    )
    split_a, split_b = ds.split_of(a.id), ds.split_of(b.id)
    where = f"{DUPLICATE_OF}{a.id}"  # the report shows the two side by side
    if split_a is not None and split_b is not None and split_a != split_b:
        return _image_issue(
            ds,
            b,
            "split_leakage",
            Severity.ERROR,
            f"{split_b} image is {how} {split_a} image {a.id!r}: the same picture in two splits",
            location=where,
        )
    code = "image_duplicate" if exact else "image_near_duplicate"
    return _image_issue(ds, b, code, Severity.WARNING, f"image is {how} {a.id!r}", location=where)


# -- classes and splits (from the dataset statistics) -------------------------------------


def check_class_balance(stats: DatasetStats, config: CheckConfig = CheckConfig()) -> list[Issue]:
    """Classes without boxes, and a most / least frequent class ratio above ``imbalance_ratio``."""
    counts = stats.boxes_per_class
    issues = [
        Issue("class_without_boxes", Severity.WARNING, f"class {c!r} has no boxes")
        for c, n in counts.items()
        if n == 0
    ]
    present = {c: n for c, n in counts.items() if n > 0}
    if len(present) >= 2:
        most, least = max(present, key=present.get), min(present, key=present.get)
        ratio = present[most] / present[least]
        if ratio > config.imbalance_ratio:
            issues.append(
                Issue(
                    "class_imbalance",
                    Severity.WARNING,
                    f"class {most!r} has {present[most]} boxes and {least!r} {present[least]}: "
                    f"ratio {ratio:.1f} > {config.imbalance_ratio:g}",
                )
            )
    return issues


def check_split_coverage(stats: DatasetStats) -> list[Issue]:
    """Splits that hold images but no box of a class the dataset has elsewhere."""
    issues = []
    for split, n_images in stats.images_per_split.items():
        if n_images == 0 or split == "unassigned":
            continue
        for c, per_split in stats.boxes_per_class_per_split.items():
            if per_split[split] == 0 and stats.boxes_per_class[c] > 0:
                issues.append(
                    Issue(
                        "split_missing_class",
                        Severity.WARNING,
                        f"split {split!r} has no box of class {c!r} "
                        f"(the dataset has {stats.boxes_per_class[c]})",
                    )
                )
    return issues


# -- against a schema -----------------------------------------------------------------------


def check_against_schema(
    ds: Dataset,
    schema: Schema,
    scans: Mapping[str, ImageScan] | None = None,
    config: CheckConfig = CheckConfig(),
    severity: Severity = Severity.WARNING,
) -> list[Issue]:
    """Classes, boxes and images that fall outside ``schema``. ``severity`` applies
    to range violations; unknown classes are always errors. Image formats and modes
    are checked only when ``scans`` are given."""
    return [
        *check_classes_against_schema(ds, schema, config),
        *check_boxes_against_schema(ds, schema, severity),
        *check_images_against_schema(ds, schema, scans or {}, severity),
    ]


def check_classes_against_schema(
    ds: Dataset, schema: Schema, config: CheckConfig = CheckConfig()
) -> list[Issue]:
    """Unknown classes (per image), schema classes absent here, and class shares that moved."""
    known = set(schema.class_names)
    unknown = [k for k, c in enumerate(ds.class_names) if c not in known]
    issues = []
    for r in ds:
        for k in unknown:
            idx = np.flatnonzero(r.classes == k)
            if len(idx):
                issues.append(
                    _image_issue(
                        ds,
                        r,
                        "class_unknown",
                        Severity.ERROR,
                        f"{len(idx)} box(es) of class {ds.class_names[k]!r}, "
                        "which the schema does not list",
                        location=_boxes_location(idx),
                    )
                )
    counts = ds.class_counts()
    total = max(sum(counts.values()), 1)
    for name, expected in schema.classes.items():
        n = counts.get(name, 0)
        if n == 0:
            issues.append(
                Issue("class_absent", Severity.WARNING, f"schema class {name!r} has no box here")
            )
        elif abs(n / total - expected.share) > config.class_share_change:
            issues.append(
                Issue(
                    "class_share_shift",
                    Severity.WARNING,
                    f"class {name!r} is {n / total:.1%} of boxes; "
                    f"the schema expects {expected.share:.1%}",
                )
            )
    return issues


def check_boxes_against_schema(
    ds: Dataset, schema: Schema, severity: Severity = Severity.WARNING
) -> list[Issue]:
    """Boxes whose size or aspect is outside their class's ranges; images whose box
    count is outside ``boxes_per_image``. Degenerate boxes are left to :func:`check_boxes`."""
    issues = []
    for r in ds:
        if len(r) not in schema.boxes_per_image:
            issues.append(
                _image_issue(
                    ds,
                    r,
                    "boxes_per_image_outside_schema",
                    severity,
                    f"{len(r)} boxes; the schema allows {schema.boxes_per_image}",
                )
            )
        m = box_measures(r.boxes)
        for i in np.flatnonzero(m["proper"]):
            expected = schema.classes.get(ds.class_names[r.classes[i]])
            if expected is None:
                continue
            for measure in BOX_MEASURES:
                allowed = expected.range_of(measure)
                if m[measure][i] not in allowed:
                    code = (
                        "box_aspect_outside_schema"
                        if measure == "aspect"
                        else "box_size_outside_schema"
                    )
                    issues.append(
                        _box_issue(
                            ds,
                            r,
                            i,
                            code,
                            severity,
                            f"{measure} {m[measure][i]:.4g} is outside the schema's {allowed}",
                        )
                    )
                    if code == "box_size_outside_schema":
                        break  # one size complaint per box: width, height and area move together
    return issues


def check_images_against_schema(
    ds: Dataset,
    schema: Schema,
    scans: Mapping[str, ImageScan],
    severity: Severity = Severity.WARNING,
) -> list[Issue]:
    """Image sizes outside the schema, and file formats or PIL modes it does not list."""
    issues = []
    for r in ds:
        if r.width not in schema.image_width or r.height not in schema.image_height:
            issues.append(
                _image_issue(
                    ds,
                    r,
                    "image_size_outside_schema",
                    severity,
                    f"image is {r.width}x{r.height} px; "
                    f"the schema allows width {schema.image_width}, height {schema.image_height}",
                )
            )
        scan = scans.get(r.id)
        if scan is None or not scan.ok:
            continue
        if schema.image_formats and scan.format not in schema.image_formats:
            issues.append(
                _image_issue(
                    ds,
                    r,
                    "image_format_unexpected",
                    severity,
                    f"file is {scan.format}; the schema lists {', '.join(schema.image_formats)}",
                )
            )
        if schema.image_modes and scan.mode not in schema.image_modes:
            issues.append(
                _image_issue(
                    ds,
                    r,
                    "image_mode_unexpected",
                    severity,
                    f"image mode is {scan.mode}; the schema lists {', '.join(schema.image_modes)}",
                )
            )
    return issues


# -- naming ---------------------------------------------------------------------------------


def _path(ds: Dataset, r: ImageRecord) -> str:
    return relative_name(r.path, ds.root) if ds.root else str(r.path)


def _image_issue(
    ds: Dataset,
    r: ImageRecord,
    code: str,
    severity: Severity,
    message: str,
    location: str | None = None,
) -> Issue:
    return Issue(code, severity, message, path=_path(ds, r), location=location, image_id=r.id)


def _box_text(ds: Dataset, r: ImageRecord, i: int) -> str:
    coords = ", ".join(f"{v:g}" for v in r.boxes[i].tolist())
    return f"{ds.class_names[r.classes[i]]} box [{coords}]"


def _box_issue(
    ds: Dataset, r: ImageRecord, i: int, code: str, severity: Severity, what: str
) -> Issue:
    return _image_issue(ds, r, code, severity, f"{_box_text(ds, r, i)} {what}", location=f"box {i}")


def _pair_issue(
    ds: Dataset,
    r: ImageRecord,
    i: int,
    j: int,
    code: str,
    severity: Severity,
    iou: float,
    what: str,
) -> Issue:
    message = f"{_box_text(ds, r, i)} and {_box_text(ds, r, j)} overlap with IoU {iou:.2f}: {what}"
    return _image_issue(ds, r, code, severity, message, location=f"boxes {i} and {j}")


def _boxes_location(idx: Iterable[int]) -> str:
    idx = [int(i) for i in idx]
    return f"box {idx[0]}" if len(idx) == 1 else "boxes " + ", ".join(map(str, idx))
