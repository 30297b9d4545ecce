"""NumPy box geometry against the detector's torch version."""

from __future__ import annotations

import numpy as np
import torch

from yolops.data.boxes import pairwise_iou
from yolops.model.boxes import box_iou


def test_pairwise_iou_matches_the_detector_iou():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 30, (40, 2))], axis=1).astype(np.float32)
    boxes[:3, 2:] = boxes[:3, :2]  # zero-area boxes
    other = boxes[::-1][:25].copy()
    expected = box_iou(torch.tensor(boxes), torch.tensor(other)).numpy()
    got = pairwise_iou(boxes, other)
    assert got.shape == (40, 25)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_pairwise_iou_of_nothing_is_empty():
    assert pairwise_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
