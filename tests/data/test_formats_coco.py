"""COCO format: layout, categories, image lookup, and every bad input reported."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yolops.data.dataset import load_dataset, save_dataset
from yolops.data.formats import coco, detect_format
from yolops.errors import DataLoadError, DatasetFormatError
from yolops.issues import Severity

from issue_support import issues_with, one_issue

TRAIN = "annotations/instances_train.json"


@pytest.fixture
def written(tiny_dataset, tmp_path) -> Path:
    """The tiny dataset saved as COCO; returns the dataset folder."""
    return save_dataset(tiny_dataset, tmp_path / "coco", "coco")


def edit(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


# -- coordinates ------------------------------------------------------------------------


def test_bbox_conversion_known_values():
    assert coco.coco_bbox_to_xyxy([10, 20, 5, 2.5]) == (10, 20, 15, 22.5)
    assert coco.xyxy_to_coco_bbox(np.float32([10, 20, 15, 22.5])) == [10, 20, 5, 2.5]
    assert all(type(v) is int for v in coco.xyxy_to_coco_bbox((1.0, 2.0, 3.0, 4.0)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 10_000, width=32), min_size=4, max_size=4))
def test_bbox_round_trip_through_json_is_lossless(values):
    box = np.float32(
        [
            min(values[0], values[2]),
            min(values[1], values[3]),
            max(values[0], values[2]),
            max(values[1], values[3]),
        ]
    )
    text = json.dumps(coco.xyxy_to_coco_bbox(box))
    back = np.float32(coco.coco_bbox_to_xyxy(json.loads(text)))
    np.testing.assert_allclose(back, box, atol=1e-3, rtol=0)


def test_split_of_file():
    assert coco.split_of_file(Path("instances_val2017.json")) == "val"
    assert coco.split_of_file(Path("instances_train.json")) == "train"
    assert coco.split_of_file(Path("test-dev.json")) == "test"
    assert coco.split_of_file(Path("instances_unassigned.json")) is None
    assert coco.split_of_file(Path("instances_trainval.json")) is None
    assert coco.split_of_file(Path("coco.json")) is None


# -- writing and reading -------------------------------------------------------------------


def test_writes_one_json_per_split(tiny_dataset, written):
    names = sorted(p.name for p in (written / "annotations").iterdir())
    assert names == [
        "instances_test.json",
        "instances_train.json",
        "instances_unassigned.json",
        "instances_val.json",
    ]
    data = json.loads((written / TRAIN).read_text())
    assert data["categories"] == [
        {"id": 1, "name": "cat", "supercategory": ""},
        {"id": 2, "name": "dog", "supercategory": ""},
        {"id": 3, "name": "bird", "supercategory": ""},
    ]
    assert [i["file_name"] for i in data["images"]] == ["img_0.png", "img_1.png", "img_2.png"]
    first = data["annotations"][0]  # img_1's box: (2.25 + 1, 3.5, 20.75 + 1, 17) in class dog
    assert first == {
        "id": 1,
        "image_id": 2,
        "category_id": 2,
        "bbox": [3.25, 3.5, 18.5, 13.5],
        "area": 249.75,
        "iscrowd": 0,
    }
    assert (written / "images/sub/img_6.png").is_file()


def test_reads_back_what_it_wrote(tiny_dataset, written, assert_same_labels):
    for source in (written, written / TRAIN):
        assert detect_format(source) == "coco"
    ds = load_dataset(written)
    assert not ds.issues, [str(i) for i in ds.issues]
    assert_same_labels(tiny_dataset, ds)
    assert ds["img_1"].attributes["iscrowd"].tolist() == [0]
    one = load_dataset(written / TRAIN)  # one file: its split from its name, images found
    assert one.ids == ["img_0", "img_1", "img_2"] and one.splits == {
        "train": ("img_0", "img_1", "img_2")
    }


def test_category_ids_map_to_classes_in_id_order(written):
    for file in (written / "annotations").iterdir():
        edit(file, _renumber_categories)
    ds = load_dataset(written)
    assert ds.class_names == ("bird", "cat", "dog")  # ids 3 -> 100, 1 -> 200, 2 -> 300
    assert ds["img_1"].classes.tolist() == [2]  # was dog


def _renumber_categories(data: dict) -> None:
    new = {1: 200, 2: 300, 3: 100}
    for c in data["categories"]:
        c["id"] = new[c["id"]]
    for a in data["annotations"]:
        a["category_id"] = new[a["category_id"]]


def test_iscrowd_and_attributes_are_kept(written):
    def mark(data):
        data["annotations"][0]["iscrowd"] = 1
        data["annotations"][1]["attributes"] = {"occluded": True, "note": "x", "bad": [1]}

    edit(written / TRAIN, mark)
    ds = load_dataset(written)
    assert ds["img_1"].attributes["iscrowd"].tolist() == [1]
    assert ds["img_2"].attributes["occluded"].tolist() == [True, False]
    assert ds["img_0"].attributes.keys() == {"iscrowd", "occluded", "note"}


def test_images_are_found_in_the_usual_places(tiny_dataset, tmp_path):
    # COCO's own layout: annotations/ beside an image folder named after nothing we know
    root = tmp_path / "flat"
    (root / "annotations").mkdir(parents=True)
    images = [{"id": 5, "file_name": "img_0.png", "width": 64, "height": 48}]
    anns = [{"id": 1, "image_id": 5, "category_id": 9, "bbox": [1, 2, 3, 4]}]
    doc = {"images": images, "annotations": anns, "categories": [{"id": 9, "name": "cat"}]}
    (root / "annotations/instances_val.json").write_text(json.dumps(doc))
    tiny_dataset["img_0"].path.rename(root / "annotations/img_0.png")  # beside the JSON
    ds = load_dataset(root)
    assert not ds.issues and ds.splits == {"val": ("img_0",)}
    np.testing.assert_array_equal(ds["img_0"].boxes, [[1, 2, 4, 6]])


# -- bad input ------------------------------------------------------------------------


def test_bad_annotations_are_reported_and_good_ones_load(written):
    bad = [
        (
            {"image_id": 999, "category_id": 1, "bbox": [1, 1, 5, 5]},
            "annotation_image_unknown",
            "999",
        ),
        ({"image_id": 1, "category_id": 42, "bbox": [1, 1, 5, 5]}, "class_unknown", "42"),
        ({"image_id": 1, "category_id": 1, "bbox": [1, 1, 5]}, "box_malformed", "4 numbers"),
        ({"image_id": 1, "category_id": 1, "bbox": [1, "a", 5, 5]}, "box_malformed", "4 numbers"),
        ({"image_id": 1, "category_id": 1}, "box_malformed", "None"),
        (
            {"image_id": 1, "category_id": 1, "bbox": [1, math.nan, 5, 5]},
            "box_nonfinite",
            "non-finite",
        ),
        (
            {"image_id": 1, "category_id": 1, "bbox": [100, 100, 5, 5]},
            "box_outside_image",
            "outside",
        ),
        ({"image_id": 1, "category_id": 1, "bbox": [10, 10, -5, 5]}, "box_inverted", "x2 < x1"),
        ({"image_id": 1, "category_id": 1, "bbox": [10, 10, 0, 5]}, "box_zero_area", "zero area"),
    ]

    def add(data):
        for k, (ann, _, _) in enumerate(bad):
            data["annotations"].append({"id": 1000 + k, **ann})
        data["annotations"].append(
            {"id": 2000, "image_id": 1, "category_id": 3, "bbox": [60, 40, 10, 10]}
        )

    edit(written / TRAIN, add)
    ds = load_dataset(written)
    got = [i for i in ds.issues if i.path == TRAIN]
    assert [(i.code, i.location) for i in got] == [
        (code, f"annotation id {1000 + k}") for k, (_, code, _) in enumerate(bad)
    ] + [("box_out_of_bounds", "annotation id 2000")]
    for issue, (_, _, words) in zip(got, bad):
        assert issue.severity is Severity.ERROR and words in issue.message, issue
    assert got[-1].severity is Severity.WARNING
    np.testing.assert_array_equal(ds["img_0"].boxes, [[60, 40, 70, 50]])  # kept as is
    assert len(ds) == 7 and len(ds.issues) == len(got)
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == len(got) and "annotation id 1003" in str(err.value)


def test_size_mismatch_uses_the_real_size(written):
    edit(written / TRAIN, lambda d: d["images"][1].update(width=800, height=600))
    ds = load_dataset(written)
    issue = one_issue(ds, "size_mismatch")
    assert (issue.severity, issue.path, issue.location) == (Severity.WARNING, TRAIN, "image id 2")
    assert "800x600" in issue.message and "80x60" in issue.message
    assert (ds["img_1"].width, ds["img_1"].height) == (80, 60)


def test_duplicate_image_ids(written):
    """Annotations naming an id that two image entries share cannot be told apart: none
    lands on either picture, both entries are set aside (each reported), and nothing
    else is lost."""

    def dup(data):
        data["images"].append({**data["images"][0], "file_name": "img_3.png"})
        image_id = data["images"][0]["id"]
        data["annotations"].append(
            {"id": 999, "image_id": image_id, "category_id": 1, "bbox": [1, 1, 5, 5]}
        )

    before = load_dataset(written)
    edit(written / TRAIN, dup)
    ds = load_dataset(written)
    found = issues_with(ds, "image_id_duplicate")
    assert len(found) == 2 and all(i.severity is Severity.ERROR for i in found)
    assert {i.location for i in found} == {"image id 1"}
    assert all("img_0.png" in i.message and "img_3.png" in i.message for i in found)
    assert all("1 annotation(s) cannot be told apart" in i.message for i in found)
    assert "img_0" not in ds and len(ds) == len(before) - 1
    assert ds.num_boxes == before.num_boxes - len(before["img_0"])
    assert ds.split_of("img_3") == "val"  # the image itself still loads from val
    assert not issues_with(ds, "annotation_image_unknown")  # refused once, not twice


def test_file_names_leaving_the_root(written):
    edit(written / TRAIN, lambda d: d["images"][1].update(file_name="../../etc/passwd"))
    ds = load_dataset(written)
    issue = one_issue(ds, "path_escapes_root")
    assert (issue.severity, issue.path, issue.location) == (Severity.ERROR, TRAIN, "image id 2")
    assert "../../etc/passwd" in issue.message and "1 annotation" in issue.message
    assert "img_1" not in ds and len(ds) == 6
    assert not issues_with(ds, "annotation_image_unknown")  # its box went with it, once


def test_missing_image(written):
    (written / "images/img_2.png").unlink()
    ds = load_dataset(written)
    issue = one_issue(ds, "image_missing")
    assert (issue.severity, issue.path, issue.location) == (Severity.ERROR, TRAIN, "image id 3")
    assert "images/img_2.png" in issue.message and "2 annotation" in issue.message and len(ds) == 6


@pytest.mark.parametrize(
    "how, code",
    [
        ("garbage", "image_unreadable"),
        ("truncated", "image_truncated"),
        ("text", "image_unreadable"),
    ],
)
def test_broken_images_are_set_aside(make_tiny_dataset, tmp_path, break_image, how, code):
    out = save_dataset(make_tiny_dataset(suffix=".jpg"), tmp_path / "coco", "coco")
    break_image(out / "images/img_4.jpg", how)
    ds = load_dataset(out)
    issue = one_issue(ds, code)
    assert (issue.severity, issue.path, issue.image_id) == (
        Severity.ERROR,
        "images/img_4.jpg",
        "img_4",
    )
    assert "img_4" not in ds and len(ds) == 6 and ds.splits["val"] == ("img_3",)
    with pytest.raises(DataLoadError, match="images/img_4.jpg"):
        load_dataset(out, strict=True)


def test_malformed_json_names_file_line_and_column(written):
    (written / TRAIN).write_text('{"images": [],\n "annotations": [}\n')
    with pytest.raises(
        DatasetFormatError, match=r"instances_train\.json: malformed JSON at line 2, column 18"
    ):
        load_dataset(written)


def test_structural_problems_raise(written):
    edit(written / TRAIN, lambda d: d.update(categories={"id": 1}))
    with pytest.raises(DatasetFormatError, match="'categories' must be a list"):
        load_dataset(written)
    edit(written / TRAIN, lambda d: d.update(categories=[{"id": 1, "name": "horse"}]))
    with pytest.raises(
        DatasetFormatError,
        match=r"category id 1 is 'cat' here but 'horse' in .*instances_train\.json",
    ):
        load_dataset(written)


def test_an_image_in_two_split_files_stays_in_the_first(written):
    val = json.loads((written / "annotations/instances_val.json").read_text())
    edit(written / TRAIN, lambda d: d["images"].append({**val["images"][0], "id": 99}))
    ds = load_dataset(written)
    issue = one_issue(ds, "image_in_two_splits")
    where = (issue.severity, issue.path, issue.location, issue.image_id)
    assert where == (Severity.WARNING, "annotations/instances_val.json", "image id 4", "img_3")
    assert ds.split_of("img_3") == "train" and len(ds["img_3"]) == 0  # boxes were in val
    assert "img_3" not in ds.splits["val"]
