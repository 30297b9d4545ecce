"""Task-aligned assignment on hand-made cases, and its batch independence."""

from __future__ import annotations

import torch

from yolops.model.assign import BACKGROUND, assign_targets
from yolops.model.yolo import anchor_grid

NC = 3


def grid(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    return anchor_grid(size, size)  # (A, 2) centres, (A,) strides


def small_boxes_around(anchors: torch.Tensor, half: float = 2.0) -> torch.Tensor:
    """(1, A, 4) predictions: a tiny box on each anchor point (overlaps little)."""
    return torch.cat((anchors - half, anchors + half), -1)[None]


def assign(pred_scores, pred_boxes, anchors, labels, boxes, mask=None, **kw):
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(pred_boxes.shape[0], -1)
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(pred_boxes.shape[0], -1, 4)
    mask = torch.ones(labels.shape, dtype=torch.bool) if mask is None else torch.as_tensor(mask)
    return assign_targets(pred_scores, pred_boxes, anchors, labels, boxes, mask, **kw)


def test_gt_takes_the_anchors_inside_it_that_predict_it_best():
    anchors, strides = grid()
    gt = torch.tensor([16.0, 16.0, 32.0, 32.0])
    # Inside the box: four stride-8 centres (20, 28)^2 and one stride-16 centre (24, 24).
    # Stride-8 anchors predict the box exactly, every other anchor a tiny box.
    pred = small_boxes_around(anchors)
    inside8 = (strides == 8) & ((anchors > 16) & (anchors < 32)).all(-1)
    assert int(inside8.sum()) == 4
    pred[0, inside8] = gt
    scores = torch.full((1, len(anchors), NC), 0.5)
    a = assign(scores, pred, anchors, [[1]], [[gt.tolist()]], topk=4)
    fg = a.fg_mask[0]
    assert torch.equal(fg, inside8)
    assert (a.target_labels[0, fg] == 1).all() and (a.target_labels[0, ~fg] == BACKGROUND).all()
    assert torch.allclose(a.target_boxes[0, fg], gt.expand(4, 4))
    # soft targets: only at the gt class, and the best anchor gets its IoU (1 here)
    assert torch.allclose(a.target_scores[0, fg, 1], torch.ones(4))
    assert a.target_scores[0, :, [0, 2]].abs().sum() == 0 and a.target_scores[0, ~fg].sum() == 0


def test_topk_bounds_the_positives_and_prefers_better_alignment():
    anchors, strides = grid()
    gt = torch.tensor([0.0, 0.0, 64.0, 64.0])  # every stride-8 and -16 centre is inside
    pred = small_boxes_around(anchors)
    scores = torch.full((1, len(anchors), NC), 0.5)
    best = torch.tensor([3, 17, 40, 55])  # four stride-8 anchors get a much better class score
    scores[0, best, 2] = 0.99
    a = assign(scores, pred, anchors, [[2]], [[gt.tolist()]], topk=4)
    assert a.fg_mask[0].nonzero().flatten().tolist() == best.tolist()


def test_no_ground_truth_means_all_background():
    anchors, _ = grid()
    scores = torch.rand(2, len(anchors), NC)
    pred = small_boxes_around(anchors).expand(2, -1, -1)
    empty = assign_targets(
        scores,
        pred,
        anchors,
        torch.zeros(2, 0, dtype=torch.long),
        torch.zeros(2, 0, 4),
        torch.zeros(2, 0, dtype=torch.bool),
    )
    padded = assign(
        scores,
        pred,
        anchors,
        [[1], [0]],
        [[[8, 8, 40, 40]], [[0, 0, 30, 30]]],
        mask=[[False], [False]],
    )
    for a in (empty, padded):
        assert not a.fg_mask.any()
        assert (a.target_labels == BACKGROUND).all()
        assert a.target_scores.abs().sum() == 0 and a.target_boxes.abs().sum() == 0
        assert a.target_scores.shape == (2, len(anchors), NC)


def test_competing_gts_the_higher_iou_wins():
    anchors, strides = grid()
    big, small = [0.0, 0.0, 40.0, 40.0], [10.0, 10.0, 30.0, 30.0]
    shared = int(((anchors == torch.tensor([20.0, 20.0])).all(-1) & (strides == 8)).nonzero())
    scores = torch.full((1, len(anchors), NC), 0.5)
    for pred_box, winner in ((small, 1), (big, 0), ([9.0, 9.0, 31.0, 31.0], 1)):
        pred = small_boxes_around(anchors)
        pred[0, shared] = torch.tensor(pred_box)
        # topk large enough that both gts take the shared anchor
        a = assign(scores, pred, anchors, [[5 % NC, 1]], [[big, small]], topk=50)
        assert a.fg_mask[0, shared]
        assert a.target_boxes[0, shared].tolist() == [big, small][winner]
        assert int(a.target_labels[0, shared]) == [2, 1][winner]


def test_tiny_box_between_anchor_centres_gets_no_anchor():
    # documented limit: a box no anchor centre falls in is not learned
    anchors, _ = grid()
    pred = small_boxes_around(anchors)
    scores = torch.full((1, len(anchors), NC), 0.5)
    a = assign(scores, pred, anchors, [[0]], [[[1.0, 1.0, 3.0, 3.0]]])
    assert not a.fg_mask.any()


def test_same_answer_alone_and_in_a_padded_batch():
    gen = torch.Generator().manual_seed(0)
    anchors, _ = grid(96)
    a_n = len(anchors)
    per_image = []
    for n_gt in (3, 0, 1, 5):
        xy = torch.rand(n_gt, 2, generator=gen) * 60
        boxes = torch.cat((xy, xy + 8 + torch.rand(n_gt, 2, generator=gen) * 30), -1)
        labels = torch.randint(0, NC, (n_gt,), generator=gen)
        centre = torch.rand(a_n, 2, generator=gen) * 96
        pred = torch.cat((centre - 10, centre + 10), -1)
        per_image.append((torch.rand(a_n, NC, generator=gen), pred, labels, boxes))
    g = max(len(p[2]) for p in per_image)
    b = len(per_image)
    gt_labels = torch.full((b, g), 7)  # padding holds garbage, even an invalid class id
    gt_boxes = torch.full((b, g, 4), 1e4)
    gt_mask = torch.zeros(b, g, dtype=torch.bool)
    for i, (_, _, labels, boxes) in enumerate(per_image):
        gt_labels[i, : len(labels)], gt_boxes[i, : len(boxes)], gt_mask[i, : len(labels)] = (
            labels,
            boxes,
            True,
        )
    batch = assign_targets(
        torch.stack([p[0] for p in per_image]),
        torch.stack([p[1] for p in per_image]),
        anchors,
        gt_labels,
        gt_boxes,
        gt_mask,
    )
    for i, (scores, pred, labels, boxes) in enumerate(per_image):
        alone = assign_targets(
            scores[None],
            pred[None],
            anchors,
            labels[None],
            boxes[None],
            torch.ones(1, len(labels), dtype=torch.bool),
        )
        assert torch.equal(batch.fg_mask[i], alone.fg_mask[0])
        assert torch.equal(batch.target_labels[i], alone.target_labels[0])
        assert torch.equal(batch.target_boxes[i], alone.target_boxes[0])
        torch.testing.assert_close(batch.target_scores[i], alone.target_scores[0])
    assert batch.fg_mask.any(), "the random case should assign something"


def test_target_score_of_each_gt_peaks_at_its_best_iou():
    gen = torch.Generator().manual_seed(3)
    anchors, _ = grid(64)
    centre = anchors + torch.randn(len(anchors), 2, generator=gen)
    pred = torch.cat((centre - 9, centre + 9), -1)[None]
    scores = torch.rand(1, len(anchors), NC, generator=gen)
    gts = [[4.0, 4.0, 26.0, 22.0], [30.0, 28.0, 60.0, 62.0]]
    a = assign(scores, pred, anchors, [[0, 2]], [gts])
    from yolops.model.boxes import aligned_box_iou

    for gt, label in zip(gts, (0, 2)):
        mine = a.fg_mask[0] & (a.target_boxes[0] == torch.tensor(gt)).all(-1)
        assert mine.any()
        best_iou = aligned_box_iou(pred[0, mine], torch.tensor(gt)).max()
        torch.testing.assert_close(a.target_scores[0, mine, label].max(), best_iou)
        assert (a.target_scores[0, mine, label] > 0).all()
