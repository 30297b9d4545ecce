"""Post-processing: confidence filter, best class or multi-label, class filter, NMS, limits."""

from __future__ import annotations

import torch
from pytest import approx

from yolops.model.postprocess import postprocess


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    """One image, 5 anchors, 3 classes: anchors 0/1 overlap (IoU 0.82), 2 stands apart,
    3 overlaps 0 but its best class differs, 4 is below any useful confidence."""
    boxes = torch.tensor(
        [
            [
                [10.0, 10.0, 50.0, 50.0],
                [12.0, 12.0, 52.0, 52.0],
                [100.0, 100.0, 140.0, 150.0],
                [11.0, 10.0, 51.0, 50.0],
                [200.0, 200.0, 220.0, 220.0],
            ]
        ]
    )
    scores = torch.tensor(
        [
            [
                [0.90, 0.10, 0.05],
                [0.80, 0.20, 0.30],
                [0.10, 0.70, 0.60],
                [0.20, 0.05, 0.85],
                [0.01, 0.02, 0.03],
            ]
        ]
    )
    return boxes, scores


def test_one_tuple_per_image_with_canonical_dtypes():
    boxes, scores = scene()
    out = postprocess(boxes.repeat(2, 1, 1), scores.repeat(2, 1, 1))
    assert len(out) == 2
    b, s, c = out[0]
    assert b.dtype == torch.float32 and s.dtype == torch.float32 and c.dtype == torch.int64
    assert b.shape == (len(s), 4) and c.shape == s.shape
    assert [t.tolist() for t in out[0]] == [t.tolist() for t in out[1]]


def test_class_aware_nms_with_best_class_per_anchor():
    b, s, c = postprocess(*scene(), conf=0.25, iou=0.5)[0]
    # 1 is suppressed by 0 (same class 0); 3 (class 2) survives next to 0; 4 is below conf
    assert s.tolist() == approx([0.90, 0.85, 0.70])
    assert c.tolist() == [0, 2, 1]
    assert b[2].tolist() == [100, 100, 140, 150]
    assert (s[:-1] >= s[1:]).all()


def test_agnostic_nms_suppresses_across_classes():
    _, s, c = postprocess(*scene(), conf=0.25, iou=0.5, agnostic=True)[0]
    assert s.tolist() == approx([0.90, 0.70]) and c.tolist() == [0, 1]


def test_multi_label_gives_every_class_above_conf():
    _, s, c = postprocess(*scene(), conf=0.5, iou=0.5, multi_label=True)[0]
    # anchor 2 gives class 1 (0.7) and class 2 (0.6); class 2 at 0.6 overlaps nothing
    # of its class except anchor 3 (0.85), which is far from it
    assert sorted(zip(c.tolist(), [round(v, 2) for v in s.tolist()])) == [
        (0, 0.9),
        (1, 0.7),
        (2, 0.6),
        (2, 0.85),
    ]


def test_class_filter_keeps_only_those_classes():
    _, s, c = postprocess(*scene(), conf=0.25, iou=0.5, classes=[2])[0]
    # anchor 2's best allowed class is 2 (0.6); anchors 0, 1, 3 compete within class 2
    assert set(c.tolist()) == {2}
    assert s.tolist() == approx([0.85, 0.60])
    _, s, c = postprocess(*scene(), conf=0.0, iou=0.5, classes=[])[0]
    assert len(s) == 0


def test_max_det_and_max_candidates():
    boxes, scores = scene()
    _, s, _ = postprocess(boxes, scores, conf=0.25, iou=0.5, max_det=2)[0]
    assert s.tolist() == approx([0.90, 0.85])
    # only the single best candidate enters NMS
    _, s, _ = postprocess(boxes, scores, conf=0.25, iou=0.5, max_candidates=1)[0]
    assert s.tolist() == approx([0.90])


def test_nothing_above_conf_gives_empty_tensors():
    b, s, c = postprocess(*scene(), conf=0.95)[0]
    assert b.shape == (0, 4) and s.shape == (0,) and c.shape == (0,) and c.dtype == torch.int64


def test_zero_anchors():
    b, s, c = postprocess(torch.zeros(1, 0, 4), torch.zeros(1, 0, 3))[0]
    assert b.shape == (0, 4) and s.shape == (0,) and c.shape == (0,)
