"""Pascal VOC format: 1-based coordinates, class order, splits, and every bad input reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yolops.data.dataset import load_dataset, save_dataset
from yolops.data.formats import detect_format, voc
from yolops.errors import DataLoadError
from yolops.issues import Severity

from issue_support import one_issue


@pytest.fixture
def written(tiny_dataset, tmp_path) -> Path:
    """The tiny dataset saved as VOC; returns the dataset folder."""
    return save_dataset(tiny_dataset, tmp_path / "voc", "voc")


def objects_xml(
    *boxes: str, name: str = "cat", size: str = "<width>64</width><height>48</height>"
) -> str:
    """An annotation for img_0.png (64x48) with one object per ``<bndbox>`` body."""
    objects = "".join(f"<object><name>{name}</name><bndbox>{b}</bndbox></object>" for b in boxes)
    return f"<annotation><filename>img_0.png</filename><size>{size}</size>{objects}</annotation>"


def bndbox(xmin, ymin, xmax, ymax) -> str:
    return f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"


# -- coordinates ------------------------------------------------------------------------


def test_one_based_conversion():
    assert voc.voc_box_to_xyxy(1, 1, 10, 20) == (0, 0, 10, 20)
    assert voc.xyxy_to_voc_box((0, 0, 10, 20)) == (1, 1, 10, 20)
    assert [voc.format_voc_number(v) for v in (3.0, 3.25, 0.1 + 0.2)] == [
        "3",
        "3.25",
        "0.30000000000000004",
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 10_000, width=32),
    st.floats(0, 10_000, width=32),
    st.floats(1.01, 5_000),
    st.floats(1.01, 5_000),
)
def test_round_trip_through_text_is_lossless(x, y, w, h):
    box = np.float32([x, y, x + w, y + h])
    text = [voc.format_voc_number(v) for v in voc.xyxy_to_voc_box(box)]
    back = np.float32(voc.voc_box_to_xyxy(*map(float, text)))
    # VOC text keeps every digit: only the +1/-1 shift rounds (below 1e-12 px)
    np.testing.assert_allclose(back, box, atol=1e-6, rtol=0)


# -- writing and reading -------------------------------------------------------------------


def test_writes_voc_layout(written):
    main = written / "ImageSets/Main"
    assert (main / "train.txt").read_text() == "img_0\nimg_1\nimg_2\n"
    assert (main / "trainval.txt").read_text() == "img_0\nimg_1\nimg_2\nimg_3\nimg_4\n"
    assert (main / "test.txt").read_text() == "img_5\n"
    assert (written / "labels.txt").read_text() == "cat\ndog\nbird\n"
    assert (written / "JPEGImages/sub/img_6.png").is_file()
    xml = (written / "Annotations/img_1.xml").read_text()
    # img_1's box (3.25, 3.5, 21.75, 17) -> 1-based
    assert "<xmin>4.25</xmin>" in xml and "<ymin>4.5</ymin>" in xml and "<xmax>21.75</xmax>" in xml
    assert "<ymax>17</ymax>" in xml and "<name>dog</name>" in xml and "<width>80</width>" in xml


def test_reads_back_what_it_wrote(tiny_dataset, written, assert_same_labels):
    assert detect_format(written) == "voc"
    ds = load_dataset(written)
    assert not ds.issues, [str(i) for i in ds.issues]
    assert_same_labels(tiny_dataset, ds)
    assert ds["sub/img_6"].path == written / "JPEGImages/sub/img_6.png"
    assert ds["img_2"].attributes["difficult"].tolist() == [0, 0]


def test_finds_the_one_dataset_in_a_devkit_folder(written, tmp_path):
    devkit = tmp_path / "VOCdevkit"
    devkit.mkdir()
    written.rename(devkit / "VOC2012")
    for path in (devkit, tmp_path):
        assert voc.find_root(path) == devkit / "VOC2012"
    assert len(load_dataset(devkit)) == 7
    (devkit / "VOC2007/Annotations").mkdir(parents=True)
    (devkit / "VOC2007/Annotations/a.xml").write_text("<annotation/>")
    assert not voc.detect(devkit)  # two candidates: ambiguous


def test_class_order_from_labels_txt_or_sorted(written):
    assert load_dataset(written).class_names == ("cat", "dog", "bird")
    (written / "labels.txt").rename(written / "classes.txt")
    (written / "classes.txt").write_text("bird\ncat\ndog\nfish\n")
    ds = load_dataset(written)
    assert ds.class_names == ("bird", "cat", "dog", "fish") and ds["img_1"].classes.tolist() == [2]
    (written / "classes.txt").unlink()
    assert load_dataset(written).class_names == ("bird", "cat", "dog")


def test_flags_are_kept_per_box(written):
    def box(*coords) -> str:
        return f"<bndbox>{bndbox(*coords)}</bndbox>"

    xml = written / "Annotations/img_0.xml"
    xml.write_text(
        "<annotation><size><width>64</width><height>48</height></size>"
        f"<object><name>cat</name><difficult>1</difficult>{box(1, 1, 10, 10)}</object>"
        f"<object><name>dog</name><truncated>1</truncated>{box(5, 5, 20, 20)}</object>"
        f"<object><name>dog</name><truncated>yes</truncated>{box(5, 5, 20, 20)}</object>"
        "</annotation>"
    )
    ds = load_dataset(written)
    record = ds["img_0"]  # no <filename>: found by id
    assert record.attributes["difficult"].tolist() == [1, 0, 0]
    assert record.attributes["truncated"].tolist() == [0, 1, 0]
    issue = one_issue(ds, "attribute_invalid")
    assert (issue.severity, issue.location) == (
        Severity.WARNING,
        "object 3",
    ) and "'yes'" in issue.message


# -- bad input ------------------------------------------------------------------------

BAD_OBJECTS = [
    ("<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>", "box_malformed", "no <ymax>"),
    (bndbox(1, "a", 5, 5), "box_malformed", "'a', not a number"),
    (bndbox(1, "nan", 5, 5), "box_nonfinite", "non-finite"),
    (bndbox(10, 1, 5, 5), "box_inverted", "xmax < xmin"),
    (bndbox(5, 5, 5, 5), "box_zero_area", "zero area"),
    (bndbox(5, 5, 9, 5), "box_zero_area", "zero area"),
    (bndbox(100, 1, 110, 5), "box_outside_image", "wholly outside"),
]


def test_bad_objects_are_reported_and_good_ones_load(written):
    xml = written / "Annotations/img_0.xml"
    boxes = [bndbox(1, 1, 10, 10)] + [b for b, _, _ in BAD_OBJECTS] + [bndbox(60, 40, 70, 48)]
    no_box = "<object><name>cat</name></object></annotation>"
    xml.write_text(objects_xml(*boxes).replace("</annotation>", no_box))
    ds = load_dataset(written)
    got = {i.location: i for i in ds.issues if i.path == "Annotations/img_0.xml"}
    assert len(got) == len(ds.issues) == len(BAD_OBJECTS) + 2
    for k, (_, code, words) in enumerate(BAD_OBJECTS, 2):
        issue = got[f"object {k}"]
        assert (issue.code, issue.severity, issue.image_id) == (code, Severity.ERROR, "img_0")
        assert words in issue.message
    crossing, missing = got[f"object {len(boxes)}"], got[f"object {len(boxes) + 1}"]
    assert (crossing.code, crossing.severity) == ("box_out_of_bounds", Severity.WARNING)
    assert (missing.code, missing.severity) == ("box_malformed", Severity.ERROR)
    assert "no <bndbox>" in missing.message
    # the good box and the border-crossing one (kept as is)
    np.testing.assert_array_equal(ds["img_0"].boxes, [[0, 0, 10, 10], [59, 39, 70, 48]])
    assert len(ds) == 7
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == len(got)
    assert all(f"Annotations/img_0.xml ({where})" in str(err.value) for where in got)


def test_unknown_class_names(written):
    (written / "Annotations/img_0.xml").write_text(objects_xml(bndbox(1, 1, 10, 10), name="horse"))
    ds = load_dataset(written)
    issue = one_issue(ds, "class_unknown")
    assert (issue.severity, issue.path, issue.location) == (
        Severity.ERROR,
        "Annotations/img_0.xml",
        "object 1",
    )
    assert "'horse'" in issue.message and len(ds["img_0"]) == 0 and len(ds) == 7


def test_malformed_xml_sets_the_image_aside(written):
    (written / "Annotations/img_1.xml").write_text("<annotation>\n<object>\n</annotation>\n")
    ds = load_dataset(written)
    issue = one_issue(ds, "xml_malformed")
    assert (issue.severity, issue.path, issue.location) == (
        Severity.ERROR,
        "Annotations/img_1.xml",
        "line 3",
    )
    assert "line 3" in issue.message and "set aside" in issue.message
    assert "img_1" not in ds and ds.splits["train"] == ("img_0", "img_2") and len(ds.issues) == 1


def test_size_mismatch_uses_the_real_size(written):
    (written / "Annotations/img_0.xml").write_text(
        objects_xml(bndbox(1, 1, 10, 10), size="<width>640</width><height>480</height>")
    )
    ds = load_dataset(written)
    issue = one_issue(ds, "size_mismatch")
    assert (issue.severity, issue.path) == (Severity.WARNING, "Annotations/img_0.xml")
    assert "640x480" in issue.message and "64x48" in issue.message and ds["img_0"].width == 64


def test_missing_image_and_escaping_filename(written):
    (written / "JPEGImages/img_2.png").unlink()
    (written / "Annotations/img_3.xml").write_text(
        (written / "Annotations/img_3.xml").read_text().replace("img_3.png", "../../secret.png")
    )
    ds = load_dataset(written)
    missing = one_issue(ds, "image_missing")
    assert (missing.severity, missing.path, missing.image_id) == (
        Severity.ERROR,
        "JPEGImages/img_2.png",
        "img_2",
    )
    assert "Annotations/img_2.xml" in missing.message
    escape = one_issue(ds, "path_escapes_root")
    assert (escape.severity, escape.path) == (
        Severity.ERROR,
        "Annotations/img_3.xml",
    ) and "../../secret.png" in escape.message
    assert sorted(set(ds.ids) ^ {f"img_{i}" for i in range(6)}) == ["img_2", "img_3", "sub/img_6"]


def test_split_files_are_checked(written):
    main = written / "ImageSets/Main"
    main.joinpath("val.txt").write_text("img_3\nimg_4\nghost\nimg_0\n")
    ds = load_dataset(written)
    unknown = one_issue(ds, "split_unknown_id")
    assert (unknown.severity, unknown.path, unknown.location) == (
        Severity.ERROR,
        "ImageSets/Main/val.txt",
        "line 3",
    )
    twice = one_issue(ds, "image_in_two_splits")
    assert (twice.severity, twice.location) == (Severity.WARNING, "line 4") and ds.split_of(
        "img_0"
    ) == "train"
    mismatch = one_issue(ds, "split_mismatch")  # trainval.txt no longer equals train + val
    assert (mismatch.severity, mismatch.path) == (Severity.WARNING, "ImageSets/Main/trainval.txt")
    assert ds.splits["val"] == ("img_3", "img_4")
    with pytest.raises(DataLoadError) as err:
        load_dataset(written, strict=True)
    assert len(err.value.issues) == 3 and "ImageSets/Main/val.txt" in str(err.value)


@pytest.mark.parametrize(
    "how, code",
    [
        ("garbage", "image_unreadable"),
        ("truncated", "image_truncated"),
        ("text", "image_unreadable"),
    ],
)
def test_broken_images_are_set_aside(make_tiny_dataset, tmp_path, break_image, how, code):
    out = save_dataset(make_tiny_dataset(suffix=".jpg"), tmp_path / "voc", "voc")
    break_image(out / "JPEGImages/img_5.jpg", how)
    ds = load_dataset(out)
    issue = one_issue(ds, code)
    assert (issue.severity, issue.path, issue.image_id) == (
        Severity.ERROR,
        "JPEGImages/img_5.jpg",
        "img_5",
    )
    assert "img_5" not in ds and len(ds) == 6 and ds.splits["test"] == ()
    assert len(ds.issues) == 1  # the split file naming img_5 is not blamed again
    with pytest.raises(DataLoadError, match="JPEGImages/img_5.jpg"):
        load_dataset(out, strict=True)
