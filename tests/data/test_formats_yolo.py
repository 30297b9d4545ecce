"""YOLO format: layout, YAML variants, label parsing, and every bad input reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from yolops.data.dataset import load_dataset, save_dataset
from yolops.data.formats import detect_format, yolo
from yolops.errors import DataLoadError, DatasetFormatError, YolopsError
from yolops.issues import IssueLog, Severity

from issue_support import issues_with, one_issue


@pytest.fixture
def written(tiny_dataset, tmp_path) -> Path:
    """The tiny dataset saved as YOLO; returns the data.yaml path."""
    return save_dataset(tiny_dataset, tmp_path / "yolo", "yolo")


# -- coordinates ------------------------------------------------------------------------


def test_line_conversion_known_values():
    assert yolo.yolo_line_to_xyxy(0.5, 0.5, 1.0, 1.0, 640, 480) == (0, 0, 640, 480)
    line = yolo.xyxy_to_yolo_line((10, 20, 30, 60), 2, 100, 200)
    assert line == "2 0.20000000 0.20000000 0.20000000 0.20000000"


@settings(max_examples=300, deadline=None)
@given(
    size=st.tuples(st.integers(1, 8192), st.integers(1, 8192)),
    frac=st.lists(st.floats(0, 1), min_size=4, max_size=4),
)
def test_line_round_trip_is_lossless(size, frac):
    width, height = size
    xs = sorted([frac[0] * width, frac[1] * width])
    ys = sorted([frac[2] * height, frac[3] * height])
    box = np.array([xs[0], ys[0], xs[1], ys[1]], np.float32)
    fields = yolo.xyxy_to_yolo_line(box, 1, width, height).split()
    back = yolo.yolo_line_to_xyxy(*map(float, fields[1:]), width, height)
    assert fields[0] == "1"
    np.testing.assert_allclose(np.float32(back), box, atol=1e-3, rtol=0)


# -- writing and reading -------------------------------------------------------------------


def test_writes_ultralytics_layout(tiny_dataset, written):
    out = written.parent
    assert written.name == "data.yaml"
    data = yaml.safe_load(written.read_text())
    # No "path": Ultralytics and yolops both take the YAML's folder as the root.
    assert data == {
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "unassigned": "images/unassigned",
        "nc": 3,
        "names": ["cat", "dog", "bird"],
    }
    assert (out / "images/train/img_0.png").is_file()
    assert (out / "images/unassigned/sub/img_6.png").is_file()
    # img_1 has one box (0..3 by index): class 1, 2.25..20.75 x 3.5..17 in an 80x60 image
    box = tiny_dataset["img_1"].boxes[0]
    assert (out / "labels/train/img_1.txt").read_text() == yolo.xyxy_to_yolo_line(
        box, 1, 80, 60
    ) + "\n"
    assert (out / "labels/train/img_0.txt").read_text() == ""  # no boxes: empty file


def test_reads_back_what_it_wrote(tiny_dataset, written, assert_same_labels):
    for source in (written, written.parent):  # the YAML, or the folder holding it
        assert detect_format(source) == "yolo"
        ds = load_dataset(source)
        assert not ds.issues, [str(i) for i in ds.issues]
        assert_same_labels(tiny_dataset, ds)
        assert ds["img_3"].path == written.parent / "images/val/img_3.png"
        assert "sub/img_6" in ds and ds.split_of("sub/img_6") is None


def test_refuses_a_folder_that_is_not_empty(tiny_dataset, written):
    with pytest.raises(YolopsError, match="not an empty folder"):
        save_dataset(tiny_dataset, written.parent, "yolo")


def test_names_as_dict_nc_and_txt_lists(written):
    root = written.parent
    (root / "train.txt").write_text("./images/train/img_0.png\nimages/train/img_1.png\n\n")
    written.write_text(
        "path: .\ntrain: train.txt\nval: [images/val, images/test]\n"
        "nc: 4\nnames: {0: cat, 1: dog, 2: bird}\n"
    )
    ds = load_dataset(written)
    assert ds.class_names == ("cat", "dog", "bird")
    assert sorted(ds.splits["train"]) == ["img_0", "img_1"]
    assert sorted(ds.splits["val"]) == ["img_3", "img_4", "img_5"]
    nc = one_issue(ds, "nc_mismatch")
    assert nc.severity is Severity.ERROR and nc.path == "data.yaml" and "nc is 4" in nc.message


def test_detect_prefers_data_yaml_and_needs_names(written, tmp_path):
    root = written.parent
    (root / "other.yaml").write_text("names: [a]\n")
    assert yolo.find_yaml(root) == written
    written.rename(root / "mine.yaml")
    assert yolo.find_yaml(root) is None  # two candidates and no data.yaml: ambiguous
    (root / "other.yaml").write_text("epochs: 3\n")
    assert yolo.find_yaml(root) == root / "mine.yaml"
    assert not yolo.detect(root / "other.yaml")
    with pytest.raises(DatasetFormatError, match="no dataset"):
        detect_format(tmp_path / "yolo" / "images")


def test_same_folder_for_two_splits_keeps_the_first(written):
    written.write_text("path: .\ntrain: images/train\nval: images/train\nnames: [cat, dog, bird]\n")
    ds = load_dataset(written)
    assert sorted(ds.splits["train"]) == ["img_0", "img_1", "img_2"] and ds.splits["val"] == ()
    dup = issues_with(ds, "image_in_two_splits")
    assert len(dup) == 3 and all(i.severity is Severity.WARNING for i in dup)


# -- bad input ------------------------------------------------------------------------


BAD_LINES = {
    "0 0.5 0.5 0.2": ("label_columns", "4 columns"),
    "1 0.5 0.5 0.2 0.2 0.9": ("label_columns", "6 columns"),
    "1 0.5 abc 0.2 0.2": ("label_number", "not a number"),
    "1 nan 0.5 0.2 0.2": ("box_nonfinite", "non-finite"),
    "one 0.5 0.5 0.2 0.2": ("class_invalid", "not an integer"),
    "1.5 0.5 0.5 0.2 0.2": ("class_invalid", "not an integer"),
    "3 0.5 0.5 0.2 0.2": ("class_unknown", "outside 0..2"),
    "-1 0.5 0.5 0.2 0.2": ("class_unknown", "outside 0..2"),
    "0 2.5 2.5 0.2 0.2": ("box_outside_image", "wholly outside"),
    "0 0.5 0.5 -0.2 0.2": ("box_inverted", "x2 < x1"),
    "0 0.5 0.5 0.0 0.2": ("box_zero_area", "zero area"),
}


def test_bad_label_lines_are_reported_and_good_lines_load(written):
    label = written.parent / "labels/train/img_2.txt"
    good = "2 0.5 0.5 0.25 0.5"
    label.write_text("\n".join([good, *BAD_LINES, "0 0.05 0.1 0.2 0.2", ""]))
    ds = load_dataset(written)
    record = ds["img_2"]  # a 64x48 image
    # the good line and the border-crossing one (kept as is, with a warning)
    np.testing.assert_allclose(record.boxes, [[24, 12, 40, 36], [-3.2, 0, 9.6, 9.6]], atol=1e-4)
    assert record.classes.tolist() == [2, 0]
    got = [i for i in ds.issues if i.path == "labels/train/img_2.txt"]
    assert [(i.code, i.location) for i in got] == [
        (code, f"line {n}") for n, (code, _) in enumerate(BAD_LINES.values(), 2)
    ] + [("box_out_of_bounds", f"line {len(BAD_LINES) + 2}")]
    for issue, (_, words) in zip(got, BAD_LINES.values()):
        assert (
            issue.severity is Severity.ERROR
            and words in issue.message
            and issue.image_id == "img_2"
        )
    assert got[-1].severity is Severity.WARNING
    assert len(ds) == 7 and len(ds.issues) == len(got)
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == len(got)
    assert all(f"labels/train/img_2.txt (line {n})" in str(err.value) for n in range(2, 14))


def test_missing_empty_and_orphan_labels(written):
    root = written.parent
    (root / "labels/train/img_1.txt").unlink()
    (root / "labels/train/img_2.txt").write_text("")
    (root / "labels/val/ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    ds = load_dataset(written)
    # No label file: a background image, as in Ultralytics: a note, not a warning.
    missing = one_issue(ds, "label_missing")
    assert (missing.severity, missing.path) == (Severity.INFO, "labels/train/img_1.txt")
    assert "images/train/img_1.png" in missing.message and len(ds["img_1"]) == 0
    orphan = one_issue(ds, "label_orphan")
    assert (orphan.severity, orphan.path) == (Severity.WARNING, "labels/val/ghost.txt")
    assert len(ds.issues) == 2 and len(ds) == 7  # the empty label file is fine
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert [i.code for i in err.value.issues] == ["label_orphan"]
    assert "labels/val/ghost.txt" in str(err.value)


@pytest.mark.parametrize(
    "how, code",
    [
        ("garbage", "image_unreadable"),
        ("truncated", "image_truncated"),
        ("text", "image_unreadable"),
    ],
)
def test_broken_images_are_set_aside(make_tiny_dataset, tmp_path, break_image, how, code):
    source = make_tiny_dataset(suffix=".jpg")
    data_yaml = save_dataset(source, tmp_path / "yolo", "yolo")
    break_image(data_yaml.parent / "images/train/img_1.jpg", how)
    ds = load_dataset(data_yaml)
    issue = one_issue(ds, code)
    assert issue.severity is Severity.ERROR and issue.path == "images/train/img_1.jpg"
    assert "set aside" in issue.message and issue.image_id == "img_1"
    assert "img_1" not in ds and len(ds) == 6 and "img_1" not in ds.splits["train"]
    with pytest.raises(DataLoadError, match="images/train/img_1.jpg"):
        load_dataset(data_yaml, strict=True)


def test_malformed_yaml_names_file_and_line(written):
    written.write_text("path: .\nnames: [cat, dog\ntrain: images/train\n")
    with pytest.raises(
        DatasetFormatError, match=r"data\.yaml: malformed YAML at line \d+, column \d+"
    ):
        load_dataset(written)


def test_bad_names_raise(written):
    written.write_text("names: {0: a, 2: b}\n")
    with pytest.raises(DatasetFormatError, match="ids must be 0..1"):
        load_dataset(written)
    written.write_text("names: [a, a]\n")
    with pytest.raises(DatasetFormatError, match="repeats"):
        load_dataset(written)


def test_missing_split_path_is_an_error_issue(written):
    written.write_text(
        "path: .\ntrain: images/train\nval: images/nowhere\nnames: [cat, dog, bird]\n"
    )
    ds = load_dataset(written)
    issue = one_issue(ds, "split_missing")
    assert (issue.severity, issue.path, issue.location) == (Severity.ERROR, "data.yaml", "val")
    assert "images/nowhere" in issue.message and len(ds.splits["train"]) == 3


def test_paths_leaving_the_root_are_refused(written, tmp_path):
    root = written.parent
    outside = tmp_path / "outside/images/x.png"
    outside.parent.mkdir(parents=True)
    (root / "images/train/img_0.png").rename(outside)
    (root / "list.txt").write_text(f"images/train/img_1.png\n../outside/images/x.png\n{outside}\n")
    written.write_text(
        "path: .\ntrain: list.txt\nval: ../outside/images\nnames: [cat, dog, bird]\n"
    )
    ds = load_dataset(written)
    escapes = issues_with(ds, "path_escapes_root")
    assert [(i.path, i.location) for i in escapes] == [
        ("list.txt", "line 2"),
        ("list.txt", "line 3"),
        ("data.yaml", "val"),
    ]
    assert all(i.severity is Severity.ERROR for i in escapes)
    assert ds.ids == ["img_1"] and ds.splits == {"train": ("img_1",), "val": ()}


def test_parse_label_directly():
    issues = IssueLog()
    boxes, classes = yolo.parse_label(
        "0 0.5 0.5 1 1\n\n  \n1 0.25 0.25 0.5 0.5\n", 100, 50, 2, issues, "x.txt"
    )
    np.testing.assert_array_equal(boxes, [[0, 0, 100, 50], [0, 0, 50, 25]])
    assert classes.dtype == np.int64 and classes.tolist() == [0, 1] and not issues


def test_file_names_shared_by_two_splits_get_longer_ids(tiny_dataset, written):
    root = written.parent
    (root / "images/val/img_3.png").rename(root / "images/val/img_0.png")
    (root / "labels/val/img_3.txt").rename(root / "labels/val/img_0.txt")
    ds = load_dataset(written)
    assert ds.splits["val"] == ("images/val/img_0", "img_4")
    np.testing.assert_allclose(ds["images/val/img_0"].boxes, tiny_dataset["img_3"].boxes, atol=1e-3)
    issue = one_issue(ds, "image_id_qualified")
    assert (issue.severity, issue.path) == (Severity.INFO, "images/val/img_0.png")
    load_dataset(written, strict=True)  # information only: strict mode accepts it
