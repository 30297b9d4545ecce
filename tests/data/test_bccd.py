"""The real BCCD data set (Pascal VOC, 364 images): its published splits, its two
degenerate boxes reported by file, and a lossless VOC -> COCO -> YOLO -> VOC trip.
Skipped when the data set is absent."""

from __future__ import annotations

import numpy as np
import pytest

from yolops.data.dataset import load_dataset, save_dataset
from yolops.data.formats import detect_format
from yolops.errors import DataLoadError
from yolops.issues import Severity

pytestmark = pytest.mark.bccd

DEGENERATE = {
    "Annotations/BloodImage_00338.xml": "object 13",
    "Annotations/BloodImage_00343.xml": "object 4",
}


@pytest.fixture(scope="module")
def bccd(bccd_root):
    return load_dataset(bccd_root)


def test_loads_with_published_splits(bccd, bccd_root):
    assert detect_format(bccd_root) == "voc"
    assert len(bccd) == 364 and bccd.class_names == ("Platelets", "RBC", "WBC")
    assert {k: len(v) for k, v in bccd.splits.items()} == {"train": 205, "val": 87, "test": 72}
    assert all(bccd.split_of(i) is not None for i in bccd.ids)
    assert {(r.width, r.height) for r in bccd} == {(640, 480)}


def test_only_the_degenerate_boxes_are_set_aside(bccd):
    assert {(i.path, i.location) for i in bccd.issues} == set(DEGENERATE.items())
    assert all(i.code == "box_zero_area" and i.severity is Severity.ERROR for i in bccd.issues)
    assert bccd.num_boxes == 4888 - 2
    # README counts (RBC 4155, WBC 372, Platelets 361) less the two degenerate RBC boxes
    assert bccd.class_counts() == {"Platelets": 361, "RBC": 4153, "WBC": 372}
    assert int(sum(r.attributes["truncated"].sum() for r in bccd)) > 0


def test_strict_mode_lists_both(bccd_root):
    with pytest.raises(DataLoadError) as err:
        load_dataset(bccd_root, strict=True)
    assert len(err.value.issues) == 2 and all(path in str(err.value) for path in DEGENERATE)


def test_voc_coco_yolo_voc_keeps_every_valid_box(bccd, tmp_path, assert_same_labels):
    ds = bccd
    for fmt in ("coco", "yolo", "voc"):
        ds = load_dataset(save_dataset(ds, tmp_path / fmt, fmt), format=fmt)
        assert not ds.issues, f"after {fmt}: {[str(i) for i in ds.issues][:5]}"
    assert_same_labels(bccd, ds)
    worst = max(float(np.abs(ds[r.id].boxes - r.boxes).max(initial=0)) for r in bccd)
    assert worst < 1e-3
