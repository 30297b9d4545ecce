"""The canonical dataset: records, splits, filtering, merging."""

import numpy as np
import pytest

from yolops.data.dataset import Dataset, ImageRecord
from yolops.errors import DataLoadError, YolopsError
from yolops.issues import IssueLog, Severity


def rec(i: str, classes=(), w=100, h=80) -> ImageRecord:
    boxes = [[10 + k, 10, 30 + k, 40] for k in range(len(classes))]
    return ImageRecord(i, f"/nowhere/{i}.png", w, h, boxes, list(classes))


def make(n=20, names=("a", "b", "c")) -> Dataset:
    records = []
    for k in range(n):
        # class c is rare: only every fifth image has it
        classes = [0, 0] if k % 2 else [1]
        if k % 5 == 0:
            classes = classes + [2]
        records.append(rec(f"img{k:03d}", classes))
    return Dataset(records, names, name="toy")


def test_record_arrays_are_canonical_and_read_only():
    r = rec("x", [1, 0])
    assert r.boxes.dtype == np.float32 and r.boxes.shape == (2, 4)
    assert r.classes.dtype == np.int64 and r.classes.shape == (2,)
    with pytest.raises(ValueError):
        r.boxes[0, 0] = 5.0


def test_record_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 boxes but 1 class"):
        ImageRecord("x", "x.png", 10, 10, [[0, 0, 1, 1], [1, 1, 2, 2]], [0])
    with pytest.raises(ValueError, match="attribute 'difficult'"):
        ImageRecord("x", "x.png", 10, 10, [[0, 0, 1, 1]], [0], {"difficult": [0, 1]})


def test_record_select_keeps_attributes_aligned():
    r = ImageRecord(
        "x",
        "x.png",
        50,
        50,
        [[0, 0, 1, 1], [1, 1, 5, 5], [2, 2, 9, 9]],
        [0, 1, 2],
        {"difficult": [False, True, False]},
    )
    s = r.select(np.array([False, True, True]))
    assert s.classes.tolist() == [1, 2]
    assert s.attributes["difficult"].tolist() == [True, False]
    assert s.boxes[0].tolist() == [1, 1, 5, 5]


def test_dataset_access_and_counts():
    ds = make()
    assert len(ds) == 20 and ds.num_classes == 3
    assert ds["img003"].id == "img003" and ds[3].id == "img003"
    assert "img003" in ds and "nope" not in ds
    counts = ds.class_counts()
    assert counts == {"a": 20, "b": 10, "c": 4}
    assert ds.num_boxes == sum(counts.values())
    with pytest.raises(KeyError, match="nope"):
        ds["nope"]


def test_dataset_rejects_duplicates_and_bad_class_ids():
    with pytest.raises(YolopsError, match="duplicate image ids"):
        Dataset([rec("a"), rec("a")], ["x"])
    with pytest.raises(YolopsError, match="outside 0..0"):
        Dataset([rec("a", [1])], ["x"])
    with pytest.raises(YolopsError, match="splits 'train' and 'val'"):
        Dataset([rec("a")], ["x"], splits={"train": ["a"], "val": ["a"]})
    with pytest.raises(YolopsError, match="unknown image"):
        Dataset([rec("a")], ["x"], splits={"train": ["b"]})


def test_random_split_is_seeded_complete_and_stratified():
    ds = make(100)
    a = ds.random_split({"train": 0.6, "val": 0.2, "test": 0.2}, seed=1)
    b = ds.random_split({"train": 0.6, "val": 0.2, "test": 0.2}, seed=1)
    c = ds.random_split({"train": 0.6, "val": 0.2, "test": 0.2}, seed=2)
    assert a.splits == b.splits and a.splits != c.splits
    sizes = {k: len(v) for k, v in a.splits.items()}
    assert sizes == {"train": 60, "val": 20, "test": 20}
    assert sorted(sum(a.splits.values(), ())) == sorted(ds.ids)
    # the rare class "c" (20 images) lands in every split in proportion
    for split, want in (("train", 12), ("val", 4), ("test", 4)):
        have = sum(1 for r in a.split(split) if 2 in r.classes)
        assert have == want, (split, have)


def test_split_filter_subset_keep_class_names_and_splits():
    ds = make().random_split({"train": 0.5, "val": 0.5}, seed=0)
    train = ds.split("train")
    assert set(train.splits) == {"train", "val"} and len(train.splits["val"]) == 0
    assert train.class_names == ds.class_names
    only_c = ds.filter(lambda r: 2 in r.classes)
    assert len(only_c) == 4 and all(2 in r.classes for r in only_c)
    sub = ds.subset(["img001", "img002"])
    assert sub.ids == ["img001", "img002"]
    with pytest.raises(YolopsError, match="no split 'test'"):
        ds.split("test")


def test_merge_maps_classes_by_name():
    d1 = Dataset([rec("p1", [0, 1])], ["cat", "dog"], splits={"train": ["p1"]}, name="one")
    d2 = Dataset(
        [rec("q1", [0]), rec("q2", [1])], ["bird", "cat"], splits={"val": ["q2"]}, name="two"
    )
    m = Dataset.merge([d1, d2])
    assert m.class_names == ("cat", "dog", "bird")
    assert [m.class_names[c] for c in m["p1"].classes] == ["cat", "dog"]
    assert [m.class_names[c] for c in m["q1"].classes] == ["bird"]
    assert [m.class_names[c] for c in m["q2"].classes] == ["cat"]
    assert m.splits == {"train": ("p1",), "val": ("q2",)}
    with pytest.raises(YolopsError, match="duplicate image ids"):
        Dataset.merge([d1, d1])


def test_content_hash_changes_with_annotations():
    ds = make()
    h = ds.content_hash()
    assert h == make().content_hash()
    moved = ds.map(lambda r: r.replace(boxes=r.boxes + 1) if r.id == "img000" else r)
    assert moved.content_hash() != h


def test_issue_log_strict_lists_everything():
    log = IssueLog()
    log.add("box_zero_area", Severity.ERROR, "box [1, 1, 1, 5] has zero area", "a.xml", "object 2")
    log.add("label_missing", "warning", "no label file", "b.txt")
    log.add("label_empty", "info", "empty label file", "c.txt")
    assert log.by_severity() == {"error": 1, "warning": 1, "info": 1}
    assert len(log.at_least("warning")) == 2
    with pytest.raises(DataLoadError) as e:
        log.raise_if_any("warning", what="toy")
    assert (
        "a.xml (object 2)" in str(e.value)
        and "b.txt" in str(e.value)
        and "c.txt" not in str(e.value)
    )
    assert len(e.value.issues) == 2
