"""The annotation checks, each on a hand-made dataset holding exactly what it must find."""

from __future__ import annotations

import numpy as np
import pytest

from yolops.data.stats import dataset_stats
from yolops.issues import Severity
from yolops.quality import checks
from yolops.quality.checks import CheckConfig
from yolops.quality.images import ImageScan
from yolops.quality.schema import Range, infer_schema


def codes(issues) -> list[tuple[str, str | None, str | None]]:
    return sorted((i.code, i.image_id, i.location) for i in issues)


def test_degenerate_out_of_bounds_and_tiny_boxes(annotations):
    ds = annotations(
        {
            "ok": [(10, 10, 30, 30, 0)],
            "flat": [(10, 10, 10, 40, 1), (5, 5, 25, 25, 0)],  # zero width, then a fine box
            "inverted": [(40, 10, 20, 30, 0)],  # x2 < x1
            "outside": [
                (90, 10, 110, 30, 2),
                (-0.0004, 0, 20, 20, 0),
            ],  # 10 px past the border; 4e-4 px is rounding
            "tiny": [(10, 10, 13, 40, 0)],  # 3 px wide
        }
    )
    found = checks.check_boxes(ds)
    assert codes(found) == [
        ("box_degenerate", "flat", "box 0"),
        ("box_degenerate", "inverted", "box 0"),
        ("box_out_of_bounds", "outside", "box 0"),
        ("box_tiny", "tiny", "box 0"),
    ]
    flat = next(i for i in found if i.image_id == "flat")
    assert flat.severity is Severity.ERROR
    assert (
        "b box [10, 10, 10, 40] has width 0 and height 30" in flat.message
    )  # class and coordinates
    assert flat.path == "flat.png"  # relative to the dataset root
    assert checks.check_boxes(ds, CheckConfig(tiny_side=2)) and not any(
        i.code == "box_tiny" for i in checks.check_boxes(ds, CheckConfig(tiny_side=2))
    )


def test_duplicate_boxes_need_the_same_class_and_iou_above_the_threshold(annotations):
    ds = annotations(
        {
            "twice": [(10, 10, 50, 50, 0), (11, 10, 51, 50, 0)],  # IoU 0.95, same class
            "near": [
                (10, 10, 50, 50, 0),
                (14, 10, 54, 50, 0),
            ],  # IoU 0.82: two touching objects, fine
            "conflict": [(10, 10, 50, 50, 0), (10, 10, 50, 50, 2)],  # one object, two classes
            "apart": [(0, 0, 20, 20, 1), (50, 50, 70, 70, 1)],
        }
    )
    found = checks.check_overlapping_boxes(ds)
    assert codes(found) == [
        ("box_class_conflict", "conflict", "boxes 0 and 1"),
        ("box_duplicate", "twice", "boxes 0 and 1"),
    ]
    assert "IoU 0.95" in next(i for i in found if i.code == "box_duplicate").message
    looser = checks.check_overlapping_boxes(ds, CheckConfig(duplicate_iou=0.8))
    assert ("box_duplicate", "near", "boxes 0 and 1") in codes(looser)


def test_empty_images_are_warned_about(annotations):
    ds = annotations({"full": [(0, 0, 10, 10, 0)], "empty": []})
    assert codes(checks.check_empty_images(ds)) == [("image_no_boxes", "empty", None)]


def test_class_balance_and_split_coverage(annotations):
    boxes = {f"i{k}": [(0, 0, 10, 10, 0)] * 1 + [(20, 20, 30, 30, 1)] * (k % 2) for k in range(24)}
    boxes["rare"] = [(40, 40, 50, 50, 2)]
    ids = list(boxes)
    ds = annotations(boxes, splits={"train": ids[:20], "val": ids[20:24], "test": ["rare"]})
    stats = dataset_stats(ds)
    # a: 24 boxes, b: 12, c: 1 -> ratio 24 > 10
    balance = checks.check_class_balance(stats)
    assert [i.code for i in balance] == ["class_imbalance"]
    assert "'a' has 24 boxes and 'c' 1" in balance[0].message
    assert checks.check_class_balance(stats, CheckConfig(imbalance_ratio=30)) == []
    coverage = {
        (i.code, i.message.split("'")[1], i.message.split("'")[3])
        for i in checks.check_split_coverage(stats)
    }
    assert coverage == {
        ("split_missing_class", "train", "c"),
        ("split_missing_class", "val", "c"),
        ("split_missing_class", "test", "a"),
        ("split_missing_class", "test", "b"),
    }
    unused = annotations({"x": [(0, 0, 10, 10, 0)]}, class_names=("a", "b"))
    assert [i.code for i in checks.check_class_balance(dataset_stats(unused))] == [
        "class_without_boxes"
    ]


def test_against_a_schema_unknown_classes_are_errors_and_ranges_warnings(annotations):
    reference = annotations(
        {f"r{k}": [(10, 10, 30 + k % 3, 30, 0), (40, 40, 60, 50 + k % 3, 1)] for k in range(30)},
        class_names=("a", "b"),
    )
    schema = infer_schema(reference, image_info={})
    current = annotations(
        {
            "fine": [(10, 10, 31, 30, 0)],
            "huge": [(0, 0, 90, 70, 0)],  # a 90x70 'a' where 'a' is ~20 px
            "new": [(10, 10, 30, 30, 2)],  # class 'c' is not in the schema
        },
        class_names=("a", "b", "c"),
    )
    found = checks.check_against_schema(current, schema)
    assert ("class_unknown", "new", "box 0") in codes(found)
    assert next(i for i in found if i.code == "class_unknown").severity is Severity.ERROR
    assert ("box_size_outside_schema", "huge", "box 0") in codes(found)
    assert [i for i in found if i.code == "box_size_outside_schema"][0].severity is Severity.WARNING
    assert ("class_absent", None, None) in codes(found)  # no 'b' at all
    shares = [i for i in found if i.code == "class_share_shift"]
    assert shares and "'a'" in shares[0].message
    assert not any(i.image_id == "fine" and i.code.startswith("box_") for i in found)
    info = checks.check_against_schema(current, schema, severity=Severity.INFO)
    assert {i.severity for i in info if i.code == "box_size_outside_schema"} == {Severity.INFO}


def test_schema_image_checks_use_sizes_formats_and_modes(annotations):
    ds = annotations({"a": [(0, 0, 10, 10, 0)], "b": [(0, 0, 10, 10, 0)]})
    schema = infer_schema(ds, image_info={"a": ("PNG", "RGB"), "b": ("PNG", "RGB")})
    schema = type(schema)(**{**schema.__dict__, "image_width": Range(200, 400)})
    scans = {
        "a": ImageScan("a", format="JPEG", mode="RGB", sha256="x", phash=0),
        "b": ImageScan("b", format="PNG", mode="L", sha256="y", phash=1),
    }
    found = codes(checks.check_images_against_schema(ds, schema, scans))
    assert found == [
        ("image_format_unexpected", "a", None),
        ("image_mode_unexpected", "b", None),
        ("image_size_outside_schema", "a", None),
        ("image_size_outside_schema", "b", None),
    ]


def _scan(image_id: str, sha: str, phash: int, contrast: float = 0.2) -> ImageScan:
    return ImageScan(
        image_id, sha256=sha, phash=phash, stats={"contrast": contrast}, format="PNG", mode="RGB"
    )


def test_duplicate_images_within_and_across_splits(annotations):
    ds = annotations(
        {k: [(0, 0, 10, 10, 0)] for k in ("t1", "t2", "t3", "v1", "v2", "flat1", "flat2")},
        splits={"train": ["t1", "t2", "t3", "flat1"], "val": ["v1", "v2", "flat2"]},
    )
    far = int("0f" * 8, 16)  # 32 bits away from 0
    scans = {
        "t1": _scan("t1", "A", 0),
        "t2": _scan("t2", "A", 0),  # same bytes as t1, same split
        "t3": _scan("t3", "B", far),
        "v1": _scan("v1", "C", 0b111),  # 3 pHash bits from t1: the same picture re-encoded, in val
        "v2": _scan("v2", "D", far ^ ((1 << 20) - 1)),  # 20 bits from t3: a different picture
        "flat1": _scan("flat1", "E", 123, contrast=0.001),
        "flat2": _scan("flat2", "F", 123, contrast=0.001),  # flat frames hash alike: not duplicates
    }
    found = checks.check_duplicate_images(ds, scans)
    assert codes(found) == [
        ("image_duplicate", "t2", "duplicate of t1"),
        ("split_leakage", "v1", "duplicate of t1"),
    ]
    leak = next(i for i in found if i.code == "split_leakage")
    assert (
        leak.severity is Severity.ERROR
        and "3 pHash bits" in leak.message
        and "val image" in leak.message
    )
    assert codes(checks.check_duplicate_images(ds, scans, CheckConfig(near_duplicate_bits=2))) == [
        ("image_duplicate", "t2", "duplicate of t1")
    ]


def test_near_pairs_is_blocked_but_finds_every_pair():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 50, dtype=np.int64).astype(np.uint64)
    hashes[37] = hashes[3] ^ np.uint64(1)
    hashes[49] = hashes[3]
    pairs = checks._near_pairs(hashes, 2, block=7)
    assert {tuple(p) for p in pairs.tolist()} == {(3, 37), (3, 49), (37, 49)}


@pytest.mark.parametrize("n", [0, 1])
def test_duplicate_check_on_tiny_datasets_finds_nothing(annotations, n):
    ds = annotations({f"i{k}": [] for k in range(n)})
    assert (
        checks.check_duplicate_images(ds, {f"i{k}": _scan(f"i{k}", "A", 0) for k in range(n)}) == []
    )
