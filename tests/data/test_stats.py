"""Dataset statistics on a hand-built dataset whose counts are known."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rich.console import Console

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.stats import DatasetStats, dataset_stats, render_stats
from yolops.issues import IssueLog, Severity

CAT, DOG = 0, 1


def _record(image_id: str, boxes, classes, size=(100, 50)) -> ImageRecord:
    # Paths need not exist: stats read annotations only.
    return ImageRecord(image_id, f"/nowhere/{image_id}.png", *size, boxes=boxes, classes=classes)


@pytest.fixture
def ds() -> Dataset:
    issues = IssueLog()
    issues.add("box_out_of_bounds", Severity.WARNING, "crosses the border", "a.txt")
    issues.add("box_out_of_bounds", Severity.WARNING, "crosses the border", "c.txt")
    issues.add("label_unreadable", Severity.ERROR, "not UTF-8", "x.txt")
    records = [
        # w 10 h 20 (area 200, aspect 0.5); w 40 h 10 (area 400, aspect 4)
        _record("a", [[0, 0, 10, 20], [5, 5, 45, 15]], [CAT, DOG]),
        _record("b", np.zeros((0, 4)), []),
        _record("c", [[0, 0, 30, 30]], [CAT]),  # area 900, aspect 1
        _record("d", [[0, 0, 4, 4]] * 12, [CAT] * 12, size=(640, 480)),  # area 16 each
        _record("e", [[10, 10, 10, 20]], [DOG]),  # zero width: degenerate
    ]
    return Dataset(
        records,
        ["cat", "dog", "bird"],
        splits={"train": ["a", "d"], "val": ["b"]},
        name="pets",
        issues=issues,
    )


def test_counts(ds: Dataset) -> None:
    s = dataset_stats(ds)
    assert s.splits == ("train", "val", "unassigned")
    assert s.images == 5
    assert s.images_per_split == {"train": 2, "val": 1, "unassigned": 2}
    assert s.boxes == 16
    assert s.boxes_per_split == {"train": 14, "val": 0, "unassigned": 2}
    assert s.boxes_per_class == {"cat": 14, "dog": 2, "bird": 0}
    assert s.boxes_per_class_per_split == {
        "cat": {"train": 13, "val": 0, "unassigned": 1},
        "dog": {"train": 1, "val": 0, "unassigned": 1},
        "bird": {"train": 0, "val": 0, "unassigned": 0},
    }
    assert s.images_per_class == {"cat": 3, "dog": 2, "bird": 0}
    assert s.images_without_boxes == 1
    assert s.degenerate_boxes == 1


def test_boxes_per_image_buckets(ds: Dataset) -> None:
    hist = dataset_stats(ds).boxes_per_image
    assert list(hist) == [str(k) for k in range(10)] + ["10+"]
    assert hist == {**{str(k): 0 for k in range(10)}, "0": 1, "1": 2, "2": 1, "10+": 1}


def test_box_size_summaries(ds: Dataset) -> None:
    s = dataset_stats(ds)
    cat_w = s.box_sizes["cat"]["width"]
    assert (cat_w.count, cat_w.min, cat_w.median, cat_w.max) == (14, 4.0, 4.0, 30.0)
    assert s.box_sizes["cat"]["area"].max == 900.0
    dog = s.box_sizes["dog"]
    assert (dog["width"].count, dog["width"].min, dog["width"].median) == (2, 0.0, 20.0)
    # The zero-width box has no aspect ratio: only the 40x10 box is summarised.
    assert (dog["aspect"].count, dog["aspect"].min, dog["aspect"].max) == (1, 4.0, 4.0)
    assert all(v is None for v in s.box_sizes["bird"].values())
    assert s.box_sizes_all["height"].count == 16
    assert s.box_sizes_all["height"].p5 == pytest.approx(
        np.percentile([20, 10, 30, 10] + [4] * 12, 5)
    )


def test_area_and_aspect_histograms(ds: Dataset) -> None:
    s = dataset_stats(ds)
    area = s.area_histogram
    assert area.labels[:4] == ("<4²", "4²–8²", "8²–16²", "16²–32²")
    # cat: 16 px² x12 (an edge value goes to the bin it starts), 200, 900; dog: 400, 0
    assert area.counts["cat"][:4] == (0, 12, 1, 1)
    assert area.counts["dog"][:4] == (1, 0, 0, 1)
    assert sum(area.counts["bird"]) == 0
    assert sum(area.totals()) == 16
    aspect = s.aspect_histogram
    assert aspect.counts["cat"] == (0, 0, 1, 13, 0, 0, 0)
    assert aspect.counts["dog"] == (0, 0, 0, 0, 0, 0, 1)


def test_image_sizes_and_issues(ds: Dataset) -> None:
    s = dataset_stats(ds)
    assert s.image_sizes == {(100, 50): 4, (640, 480): 1}
    assert list(s.image_sizes) == [(100, 50), (640, 480)]  # most common first
    assert s.issues_by_code == {
        "box_out_of_bounds": {"warning": 2},
        "label_unreadable": {"error": 1},
    }
    assert s.issues_by_severity == {"warning": 2, "error": 1}


def test_to_dict_is_strict_json(ds: Dataset) -> None:
    d = json.loads(json.dumps(dataset_stats(ds).to_dict(), allow_nan=False))
    assert d["boxes_per_class_per_split"]["cat"]["train"] == 13
    assert d["image_sizes"][0] == {"width": 100, "height": 50, "images": 4}
    assert d["box_sizes"]["bird"]["width"] is None
    assert d["box_sizes"]["cat"]["width"]["max"] == 30
    assert d["area_histogram"]["edges"][-1] is None  # +inf has no JSON form
    assert d["aspect_histogram"]["total"] == [0, 0, 1, 13, 0, 0, 1]


def test_empty_dataset() -> None:
    s = dataset_stats(Dataset([], ["cat"]))
    assert (s.images, s.boxes, s.splits, s.image_sizes) == (0, 0, (), {})
    assert s.box_sizes == {"cat": {"width": None, "height": None, "area": None, "aspect": None}}
    json.dumps(s.to_dict(), allow_nan=False)
    console = Console(record=True, width=120)
    render_stats(s, console)
    assert "No load issues" in console.export_text()


def _row(text: str, first_cell: str, after: str) -> list[str]:
    """The cells of the first table row starting with ``first_cell`` after ``after``."""
    lines = text[text.index(after) :].splitlines()
    line = next(
        row for row in lines if row.startswith("│") and row.split("│")[1].strip() == first_cell
    )
    return [c.strip() for c in line.strip("│").split("│")]


def test_render_stats_tables(ds: Dataset) -> None:
    console = Console(record=True, width=120)
    render_stats(dataset_stats(ds), console)
    text = console.export_text()
    # class, train, val, unassigned, total, share, images containing it
    assert _row(text, "cat", "Boxes per class") == ["cat", "13", "0", "1", "14", "87.5%", "3"]
    assert _row(text, "dog", "Boxes per class") == ["dog", "1", "0", "1", "2", "12.5%", "2"]
    assert _row(text, "bird", "Boxes per class") == ["bird", "0", "0", "0", "0", "0.0%", "0"]
    bucket = _row(text, "10+", "Boxes per image")
    assert bucket[:2] == ["10+", "1"] and set(bucket[2]) == {"█"}
    assert _row(text, "label_unreadable", "Load issues") == ["label_unreadable", "error", "1"]
    assert _row(text, "640 × 480", "Image sizes") == ["640 × 480", "1", "20.0%"]
    assert "Box area (px²)" in text and "Box aspect ratio (w/h)" in text


def test_stats_is_frozen(ds: Dataset) -> None:
    s = dataset_stats(ds)
    assert isinstance(s, DatasetStats)
    with pytest.raises(AttributeError):
        s.images = 3  # type: ignore[misc]
