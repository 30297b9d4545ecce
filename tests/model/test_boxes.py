"""Box geometry: conversions, the IoU family against a plain-Python reference, and NMS
against a brute-force greedy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from yolops.model.boxes import (
    aligned_box_ciou,
    aligned_box_diou,
    aligned_box_giou,
    aligned_box_iou,
    batched_nms,
    box_area,
    box_ciou,
    box_diou,
    box_giou,
    box_iou,
    cxcywh_to_xyxy,
    nms,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

# -- strategies and references ---------------------------------------------------------

coord = st.floats(0, 500, allow_nan=False, width=32)
size = st.floats(0.5, 300, allow_nan=False, width=32)


@st.composite
def xyxy_boxes(draw, min_size: int = 0, max_size: int = 12) -> torch.Tensor:
    n = draw(st.integers(min_size, max_size))
    rows = [
        [x, y, x + w, y + h]
        for x, y, w, h in draw(
            st.lists(st.tuples(coord, coord, size, size), min_size=n, max_size=n)
        )
    ]
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


def ref_iou_family(a: list[float], b: list[float]) -> dict[str, float]:
    """IoU, GIoU, DIoU and CIoU of two xyxy boxes from their definitions, in plain Python."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
    union = area_a + area_b - inter
    iou = inter / union
    cw, ch = max(ax2, bx2) - min(ax1, bx1), max(ay2, by2) - min(ay1, by1)
    giou = iou - (cw * ch - union) / (cw * ch)
    rho2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    diou = iou - rho2 / (cw**2 + ch**2)
    v = (
        4
        / math.pi**2
        * (math.atan((bx2 - bx1) / (by2 - by1)) - math.atan((ax2 - ax1) / (ay2 - ay1))) ** 2
    )
    alpha = v / (1 - iou + v) if v > 0 else 0.0
    return {"iou": iou, "giou": giou, "diou": diou, "ciou": diou - alpha * v}


def ref_nms(
    boxes: torch.Tensor, scores: torch.Tensor, thr: float, classes: torch.Tensor | None = None
) -> list[int]:
    """Greedy NMS by the book: visit boxes by descending score (ties: lower index first),
    keep one unless a kept box of the same class overlaps it by IoU > thr."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    kept: list[int] = []
    for i in order:
        if all(
            float(box_iou(boxes[i : i + 1], boxes[j : j + 1])) <= thr
            for j in kept
            if classes is None or int(classes[i]) == int(classes[j])
        ):
            kept.append(i)
    return kept


# -- conversions ---------------------------------------------------------------------


def test_conversions_on_a_known_box():
    xyxy = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    assert xyxy_to_xywh(xyxy).tolist() == [[10, 20, 20, 40]]
    assert xyxy_to_cxcywh(xyxy).tolist() == [[20, 40, 20, 40]]
    assert xywh_to_xyxy(torch.tensor([[10.0, 20.0, 20.0, 40.0]])).tolist() == xyxy.tolist()
    assert cxcywh_to_xyxy(torch.tensor([[20.0, 40.0, 20.0, 40.0]])).tolist() == xyxy.tolist()
    assert box_area(xyxy).tolist() == [800]


@settings(max_examples=50, deadline=None)
@given(xyxy_boxes())
def test_conversions_round_trip(boxes):
    torch.testing.assert_close(xywh_to_xyxy(xyxy_to_xywh(boxes)), boxes)
    torch.testing.assert_close(cxcywh_to_xyxy(xyxy_to_cxcywh(boxes)), boxes)
    # areas agree across formats, and (B, N, 4) batches convert row by row
    torch.testing.assert_close(
        box_area(boxes), xyxy_to_xywh(boxes)[:, 2] * xyxy_to_xywh(boxes)[:, 3]
    )
    batch = torch.stack([boxes, boxes + 1])
    torch.testing.assert_close(xyxy_to_cxcywh(batch)[1], xyxy_to_cxcywh(boxes + 1))


def test_box_area_counts_inverted_boxes_as_empty():
    assert box_area(torch.tensor([[5.0, 5.0, 3.0, 9.0]])).tolist() == [0.0]


# -- IoU family ------------------------------------------------------------------------

PAIRWISE = {"iou": box_iou, "giou": box_giou, "diou": box_diou, "ciou": box_ciou}
ELEMENTWISE = {
    "iou": aligned_box_iou,
    "giou": aligned_box_giou,
    "diou": aligned_box_diou,
    "ciou": aligned_box_ciou,
}


@settings(max_examples=60, deadline=None)
@given(xyxy_boxes(min_size=1, max_size=6), xyxy_boxes(min_size=1, max_size=6))
def test_iou_family_matches_the_definitions(a, b):
    for kind, fn in PAIRWISE.items():
        got = fn(a, b)
        assert got.shape == (len(a), len(b))
        want = torch.tensor(
            [[ref_iou_family(x.tolist(), y.tolist())[kind] for y in b] for x in a],
            dtype=torch.float64,
        )
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6, msg=kind)


@settings(max_examples=30, deadline=None)
@given(xyxy_boxes(min_size=1, max_size=8))
def test_elementwise_is_the_diagonal_of_pairwise(boxes):
    other = boxes.flip(0) + 3.0
    for kind in PAIRWISE:
        torch.testing.assert_close(
            ELEMENTWISE[kind](boxes, other), PAIRWISE[kind](boxes, other).diagonal(), msg=kind
        )


@pytest.mark.parametrize(
    "a, b, want",
    [
        # identical boxes: every variant is 1
        ([0, 0, 2, 2], [0, 0, 2, 2], {"iou": 1, "giou": 1, "diou": 1, "ciou": 1}),
        # half overlap: inter 2, union 6; hull = union; centres 1 apart, hull diagonal^2 = 13
        (
            [0, 0, 2, 2],
            [1, 0, 3, 2],
            {"iou": 1 / 3, "giou": 1 / 3, "diou": 1 / 3 - 1 / 13, "ciou": 1 / 3 - 1 / 13},
        ),
        # disjoint: hull 3 x 1 with 1 empty; centres 2 apart, diagonal^2 = 10
        ([0, 0, 1, 1], [2, 0, 3, 1], {"iou": 0, "giou": -1 / 3, "diou": -0.4, "ciou": -0.4}),
        # nested, different aspect: 1x1 inside 2x4; CIoU < DIoU by the aspect term
        ([0, 0, 2, 4], [0.5, 1.5, 1.5, 2.5], {"iou": 1 / 8, "giou": 1 / 8, "diou": 1 / 8}),
    ],
)
def test_iou_family_hand_cases(a, b, want):
    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    for kind, value in want.items():
        assert float(PAIRWISE[kind](ta, tb)) == pytest.approx(value, abs=1e-6), kind
    if a == [0, 0, 2, 4]:
        assert float(box_ciou(ta, tb)) < float(box_diou(ta, tb))


def test_pairwise_iou_of_empty_sets_has_the_right_shape():
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    assert box_iou(torch.zeros(0, 4), boxes).shape == (0, 1)
    assert box_ciou(boxes, torch.zeros(0, 4)).shape == (1, 0)


def test_ciou_gradients_are_finite_for_degenerate_boxes():
    pred = torch.tensor(
        [[5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 4.0], [1.0, 1.0, 3.0, 3.0]], requires_grad=True
    )
    target = torch.tensor([[4.0, 4.0, 6.0, 6.0], [0.0, 0.0, 2.0, 4.0], [1.0, 1.0, 3.0, 3.0]])
    loss = (1 - aligned_box_ciou(pred, target)).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


# -- NMS -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(xyxy_boxes(max_size=25), st.data(), st.floats(0.0, 0.95))
def test_nms_matches_greedy_reference(boxes, data, thr):
    # scores from a small set, so that exact ties happen often
    scores = torch.tensor(
        data.draw(
            st.lists(
                st.sampled_from([0.1, 0.5, 0.5, 0.9, 0.3]), min_size=len(boxes), max_size=len(boxes)
            )
        ),
        dtype=torch.float32,
    )
    keep = nms(boxes, scores, thr)
    assert keep.dtype == torch.int64
    assert keep.tolist() == ref_nms(boxes, scores, thr)


@settings(max_examples=40, deadline=None)
@given(xyxy_boxes(max_size=25), st.data(), st.floats(0.0, 0.95))
def test_batched_nms_matches_per_class_reference(boxes, data, thr):
    n = len(boxes)
    scores = torch.tensor(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    classes = torch.tensor(
        data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=torch.int64
    )
    assert batched_nms(boxes, scores, classes, thr).tolist() == ref_nms(boxes, scores, thr, classes)
    assert batched_nms(boxes, scores, classes, thr, agnostic=True).tolist() == ref_nms(
        boxes, scores, thr
    )


def test_nms_of_no_boxes_is_empty():
    keep = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64
    assert batched_nms(
        torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5
    ).shape == (0,)


def test_nms_keeps_a_single_box():
    assert nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([0.2]), 0.5).tolist() == [0]


def test_nms_of_all_overlapping_boxes_keeps_the_best():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]]).repeat(5, 1) + torch.arange(5.0)[:, None] * 0.1
    scores = torch.tensor([0.3, 0.9, 0.5, 0.1, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [1]


def test_nms_breaks_exact_ties_by_lower_index():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 3 + [[50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.5, 0.8, 0.8, 0.8])
    # box 1 and 2 tie at 0.8 and overlap: 1 (lower index) wins; 3 ties too but is apart
    assert nms(boxes, scores, 0.5).tolist() == [1, 3]


def test_nms_max_det_keeps_the_top_of_the_full_answer():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=gen) * 300
    boxes = torch.cat((xy, xy + 20 + torch.rand(200, 2, generator=gen) * 40), 1)
    scores = torch.rand(200, generator=gen)
    full = nms(boxes, scores, 0.5)
    assert nms(boxes, scores, 0.5, max_det=7).tolist() == full[:7].tolist()
    assert nms(boxes, scores, 0.5, max_det=0).tolist() == []


def test_class_aware_keeps_overlapping_boxes_of_different_classes():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0]])
    scores = torch.tensor([0.9, 0.8])
    classes = torch.tensor([0, 1])
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, classes, 0.5, agnostic=True).tolist() == [0]
    assert batched_nms(boxes, scores, torch.tensor([1, 1]), 0.5).tolist() == [0]


def test_nms_over_more_boxes_than_one_block_matches_reference():
    # > 1024 boxes crosses the block boundary of the IoU matrix
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(2500, 2, generator=gen) * 600
    boxes = torch.cat((xy, xy + 10 + torch.rand(2500, 2, generator=gen) * 60), 1)
    scores = torch.rand(2500, generator=gen)
    got = nms(boxes, scores, 0.45).tolist()
    # vectorised reference: the same greedy rule, one kept box at a time (numpy)
    order = np.argsort(-scores.numpy(), kind="stable")
    b = boxes.numpy()[order]
    alive, kept = np.ones(len(b), bool), []
    for i in range(len(b)):
        if alive[i]:
            kept.append(int(order[i]))
            alive &= box_iou(torch.from_numpy(b[i : i + 1]), torch.from_numpy(b)).numpy()[0] <= 0.45
    assert got == kept
