"""Overlapping annotators: matching, merging and agreement."""

from __future__ import annotations

import numpy as np

from yolops.label.consensus import agreement, f1, match, merge


def lb(x1, y1, x2, y2, cls=0):
    return {"box": [x1, y1, x2, y2], "cls": cls, "source": "human"}


def test_match_is_one_to_one_and_needs_the_iou():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    b = np.array([[21, 21, 31, 31], [1, 1, 11, 11], [100, 100, 110, 110]], float)
    assert sorted(match(a, b)) == [(0, 1), (1, 0)]
    assert match(a, b, iou=0.99) == []
    assert match(a[:0], b) == []


def test_f1_counts_only_matching_classes_and_two_empty_sets_agree():
    assert f1([], []) == 1.0
    assert f1([lb(0, 0, 10, 10)], []) == 0.0
    assert f1([lb(0, 0, 10, 10)], [lb(0, 0, 10, 10, cls=1)]) == 0.0
    assert f1([lb(0, 0, 10, 10), lb(20, 20, 30, 30)], [lb(1, 1, 10, 10)]) == 2 / 3


def test_merge_averages_agreeing_boxes_and_keeps_and_flags_the_rest():
    three = [
        [lb(0, 0, 10, 10), lb(50, 50, 60, 60, cls=1)],
        [lb(2, 0, 12, 10), lb(50, 50, 60, 60, cls=0)],
        [lb(1, 0, 11, 10), lb(80, 80, 90, 90)],
    ]
    merged = merge(three)
    assert merged[0] == {"box": [1.0, 0.0, 11.0, 10.0], "cls": 0, "source": "consensus"}
    # Drawn by two of three with different classes: first annotator's class on a tie,
    # and disputed since no class has a majority.
    assert merged[1]["cls"] == 1 and merged[1]["disputed"]
    # Drawn by one of three: kept, disputed.
    assert merged[2]["box"] == [80, 80, 90, 90] and merged[2]["disputed"]
    assert len(merged) == 3


def test_one_annotator_merges_to_their_own_labels_and_full_agreement():
    only = [[lb(0, 0, 10, 10, cls=1)]]
    assert merge(only) == [lb(0, 0, 10, 10, cls=1)]
    assert agreement(only) == 1.0
    assert agreement([[lb(0, 0, 10, 10)], [lb(0, 0, 10, 10)], []]) == 1 / 3
