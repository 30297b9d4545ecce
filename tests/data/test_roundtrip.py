"""Round trips between the formats: generated data through every pair of YOLO, COCO,
VOC, Label Studio and CVAT and through all of them, and random valid boxes written and
read back by each format."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from yolops.data.dataset import Dataset, ImageRecord, load_dataset, save_dataset
from yolops.data.formats import FORMAT_NAMES

# Every writer's output read by every reader, then two trips through them all (all 120
# orders would add nothing a pair does not test).
ORDERS = [*itertools.permutations(FORMAT_NAMES, 2), FORMAT_NAMES, FORMAT_NAMES[::-1]]


@pytest.mark.parametrize("order", ORDERS, ids="->".join)
def test_every_order_keeps_images_boxes_classes_and_splits(
    tiny_dataset, tmp_path, order, assert_same_labels
):
    ds = tiny_dataset
    for step, fmt in enumerate(order):
        ds = load_dataset(save_dataset(ds, tmp_path / f"{step}-{fmt}", fmt), format=fmt)
        assert not ds.issues, f"after {fmt}: {[str(i) for i in ds.issues]}"
        assert_same_labels(tiny_dataset, ds)
    assert [i for i in ds.ids if ds.split_of(i) is None] == ["sub/img_6"]


def test_voc_flags_survive_coco(written_voc_with_flags, tmp_path):
    source = load_dataset(written_voc_with_flags)
    back = load_dataset(
        save_dataset(
            load_dataset(save_dataset(source, tmp_path / "c", "coco")), tmp_path / "v", "voc"
        )
    )
    for name in ("difficult", "truncated"):
        assert (
            back["img_1"].attributes[name].tolist()
            == source["img_1"].attributes[name].tolist()
            == [1]
        )


@pytest.fixture
def written_voc_with_flags(tiny_dataset, tmp_path) -> Path:
    record = tiny_dataset["img_1"]  # one box
    flagged = record.replace(attributes={"difficult": [1], "truncated": [1]})
    ds = tiny_dataset.map(lambda r: flagged if r.id == "img_1" else r)
    return save_dataset(ds, tmp_path / "flags", "voc")


# -- random boxes, each format -------------------------------------------------------------


@st.composite
def labelled_image(draw, min_side: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(width, height, boxes float32 (N, 4) xyxy inside the image, classes (N,))."""
    width, height = draw(st.integers(8, 1024)), draw(st.integers(8, 1024))
    n = draw(st.integers(0, 6))
    boxes = []
    for _ in range(n):
        x1 = draw(st.floats(0, width - min_side))
        y1 = draw(st.floats(0, height - min_side))
        x2 = draw(st.floats(x1 + min_side, width))
        y2 = draw(st.floats(y1 + min_side, height))
        boxes.append((x1, y1, x2, y2))
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    # float32 rounding may push a corner a hair past the border or shrink a side below
    # the minimum; such boxes are not "random valid boxes"
    inside = (boxes[:, 2] <= width) & (boxes[:, 3] <= height)
    wide = (boxes[:, 2] - boxes[:, 0] >= min_side) & (boxes[:, 3] - boxes[:, 1] >= min_side)
    boxes = boxes[inside & wide]
    classes = np.array(
        draw(st.lists(st.integers(0, 2), min_size=len(boxes), max_size=len(boxes))), np.int64
    )
    return width, height, boxes, classes


def _write_and_read(
    fmt: str, width: int, height: int, boxes: np.ndarray, classes: np.ndarray
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp, "a.png")
        Image.new("L", (width, height)).save(image)
        record = ImageRecord("a", image, width, height, boxes, classes)
        ds = Dataset([record], ("x", "y", "z"), {"train": ["a"]})
        back = load_dataset(save_dataset(ds, Path(tmp, "out"), fmt), format=fmt)
        assert not back.issues, [str(i) for i in back.issues]
        np.testing.assert_allclose(back["a"].boxes, boxes, atol=1e-3, rtol=0)
        np.testing.assert_array_equal(back["a"].classes, classes)


PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(labelled_image(min_side=0.01))
def test_yolo_write_read_is_lossless(case):
    _write_and_read("yolo", *case)


@PROPERTY
@given(labelled_image(min_side=0.01))
def test_coco_write_read_is_lossless(case):
    _write_and_read("coco", *case)


@PROPERTY
@given(labelled_image(min_side=1.01))  # VOC cannot hold boxes 1 px wide or less (see voc.py)
def test_voc_write_read_is_lossless(case):
    _write_and_read("voc", *case)


@PROPERTY
@given(labelled_image(min_side=0.01))
def test_labelstudio_write_read_is_lossless(case):
    _write_and_read("labelstudio", *case)


@PROPERTY
@given(labelled_image(min_side=0.01))
def test_cvat_write_read_is_lossless(case):
    _write_and_read("cvat", *case)
