"""Planting known defects, and scoring issues against them."""

from __future__ import annotations

import numpy as np
import pytest

from yolops.errors import YolopsError
from yolops.issues import Issue, Severity
from yolops.quality.labels import LabelIssue
from yolops.quality.plant import (
    KINDS,
    LABEL_KINDS,
    PlantedDefect,
    plant_defects,
    precision_at_k,
    recall,
)


@pytest.fixture(scope="module")
def everything(shapes, tmp_path_factory):
    return plant_defects(shapes, tmp_path_factory.mktemp("all"), seed=1, per_kind=2, kinds=KINDS)


def test_each_kind_is_planted_on_its_own_image_and_the_source_is_untouched(shapes, everything):
    ds, truth = everything
    assert [d.kind for d in truth] == [k for k in KINDS for _ in range(2)]
    copies = [d for d in truth if d.kind.endswith(("_splits", "_split"))]
    assert len(ds) == len(shapes) + len(copies)
    assert len({d.image_id for d in truth}) == len(truth)
    for r in shapes:  # the source dataset and its files are as they were
        assert r.path.parent == shapes.root / "images" and r.path.is_file()
    assert all(r.path.parent == ds.root / "images" for r in ds)


def test_box_defects_are_what_they_say(shapes, everything):
    ds, truth = everything
    for d in truth:
        before, after = (shapes[d.image_id] if d.image_id in shapes else None), ds[d.image_id]
        if d.kind == "dropped_box":
            assert len(after) == len(before) - 1 and d.box is None
            assert not any(np.allclose(b, d.xyxy) for b in after.boxes)
        elif d.kind == "flipped_class":
            assert after.classes[d.box] != before.classes[d.box] and np.array_equal(
                after.boxes, before.boxes
            )
        elif d.kind == "shifted_box":
            assert not np.allclose(after.boxes[d.box], before.boxes[d.box]) and np.allclose(
                after.boxes[d.box], d.xyxy
            )
        elif d.kind == "spurious_box":
            x1, y1, x2, y2 = d.xyxy
            others = before.boxes
            assert 0 <= x1 < x2 <= after.width and 0 <= y1 < y2 <= after.height
            assert np.all(
                (others[:, 2] <= x1)
                | (others[:, 0] >= x2)
                | (others[:, 3] <= y1)
                | (others[:, 1] >= y2)
            )
        elif d.kind == "degenerate_box":
            b = after.boxes[d.box]
            assert b[2] == b[0]
        elif d.kind == "unlabelled_image":
            assert len(after) == 0


def test_copies_land_in_the_right_split(everything):
    ds, truth = everything
    for d in truth:
        if d.kind in ("duplicate_across_splits", "near_duplicate_across_splits"):
            source = d.image_id.removesuffix(f"_{d.kind}")
            assert ds.split_of(d.image_id) not in (None, ds.split_of(source))
        elif d.kind == "duplicate_within_split":
            source = d.image_id.removesuffix(f"_{d.kind}")
            assert ds.split_of(d.image_id) == ds.split_of(source)
            assert ds[d.image_id].path.read_bytes() == ds[source].path.read_bytes()


def test_bad_requests_are_clear_errors(shapes, tmp_path):
    with pytest.raises(YolopsError, match="unknown kinds"):
        plant_defects(shapes, tmp_path, kinds=("smudge",))
    with pytest.raises(YolopsError, match="3000 defects need 3000 images"):
        plant_defects(shapes, tmp_path, per_kind=1000, kinds=("dark", "blur", "blank"))
    one_split = shapes.with_splits({"train": shapes.ids})
    with pytest.raises(YolopsError, match="two non-empty splits"):
        plant_defects(one_split, tmp_path, kinds=("duplicate_across_splits",))


def test_recall_needs_the_right_code_image_and_box():
    truth = [
        PlantedDefect("degenerate_box", "a", 3),
        PlantedDefect("dark", "b"),
        PlantedDefect("dropped_box", "c", None, xyxy=(10, 10, 50, 50)),
        PlantedDefect("flipped_class", "d", 0),
    ]
    issues = [
        Issue("box_degenerate", Severity.ERROR, "x", image_id="a", location="box 2"),  # another box
        Issue("image_blurry", Severity.WARNING, "x", image_id="b"),  # another code
        LabelIssue(
            "label_missing_box", Severity.WARNING, "x", image_id="c", predicted_box=(12, 11, 52, 50)
        ),
        LabelIssue(
            "label_wrong_class", Severity.WARNING, "x", image_id="d", location="box 0", box=0
        ),
    ]
    assert recall(truth, issues) == {
        "degenerate_box": (0, 1),
        "dark": (0, 1),
        "dropped_box": (1, 1),
        "flipped_class": (1, 1),
    }
    issues[0] = Issue("box_degenerate", Severity.ERROR, "x", image_id="a", location="boxes 1 and 3")
    issues[2] = LabelIssue(
        "label_missing_box", Severity.WARNING, "x", image_id="c", predicted_box=(60, 60, 90, 90)
    )
    assert recall(truth, issues, kinds=("degenerate_box", "dropped_box")) == {
        "degenerate_box": (1, 1),
        "dropped_box": (0, 1),
    }


def test_precision_at_k():
    truth = [
        PlantedDefect("flipped_class", "x", 0),
        PlantedDefect("dropped_box", "y"),
        PlantedDefect("dark", "z"),
    ]  # not a label kind
    assert precision_at_k(["x", "y", "z", "w"], truth) == 1.0  # k = 2 label-error images
    assert precision_at_k(["x", "w", "y"], truth) == 0.5
    assert precision_at_k(["w", "x", "y"], truth, k=3) == pytest.approx(2 / 3)
    assert set(LABEL_KINDS) <= set(KINDS)
