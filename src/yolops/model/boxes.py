"""Box geometry in torch: format conversions, the IoU family, and non-maximum suppression.

Pure, vectorised functions; the format is in the name. Boxes are (..., 4) tensors in
pixels: ``xyxy`` = (x1, y1, x2, y2) corners, ``xywh`` = top-left corner and size,
``cxcywh`` = centre and size. ``box_*`` functions are pairwise, (N, 4) x (M, 4) -> (N, M);
``bbox_*`` functions are elementwise, (..., 4) x (..., 4) -> (...), broadcasting.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

_EPS = 1e-7  # keeps ratios finite for empty or degenerate boxes


def xyxy_to_xywh(boxes: Tensor) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack((x1, y1, x2 - x1, y2 - y1), -1)


def xywh_to_xyxy(boxes: Tensor) -> Tensor:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack((x, y, x + w, y + h), -1)


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), -1)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def box_area(boxes: Tensor) -> Tensor:
    """(..., 4) xyxy -> (...) areas; inverted boxes count as empty (0)."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(
        min=0
    )


def _iou_family(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """Elementwise IoU variants of broadcastable (..., 4) xyxy boxes -> (...).

    iou   = |a & b| / |a | b|
    giou  = iou - |C \\ (a | b)| / |C|,        C the smallest box enclosing a and b
    diou  = iou - rho^2 / c^2,                 rho the centre distance, c the diagonal of C
    ciou  = diou - alpha * v,                  v = 4/pi^2 (atan(wb/hb) - atan(wa/ha))^2,
                                               alpha = v / (1 - iou + v)
    """
    wa, ha = (a[..., 2] - a[..., 0]).clamp(min=0), (a[..., 3] - a[..., 1]).clamp(min=0)
    wb, hb = (b[..., 2] - b[..., 0]).clamp(min=0), (b[..., 3] - b[..., 1]).clamp(min=0)
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    union = wa * ha + wb * hb - inter
    iou = inter / (union + _EPS)
    if kind == "iou":
        return iou
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    if kind == "giou":
        hull = cw * ch
        return iou - (hull - union) / (hull + _EPS)
    diag2 = cw**2 + ch**2 + _EPS
    rho2 = (
        (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2
        + (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2
    ) / 4
    diou = iou - rho2 / diag2
    if kind == "diou":
        return diou
    v = (4 / math.pi**2) * (torch.atan(wb / (hb + _EPS)) - torch.atan(wa / (ha + _EPS))) ** 2
    with torch.no_grad():  # alpha is a trade-off weight, not a path for gradients (CIoU paper)
        alpha = v / (v - iou + (1 + _EPS))
    return diou - alpha * v


def _pairwise(a: Tensor, b: Tensor, kind: str) -> Tensor:
    return _iou_family(a[:, None, :], b[None, :, :], kind)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M), in [0, 1]."""
    return _pairwise(a, b, "iou")


def box_giou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise generalized IoU (Rezatofighi et al. 2019) -> (N, M), in [-1, 1]."""
    return _pairwise(a, b, "giou")


def box_diou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise distance IoU (Zheng et al. 2020) -> (N, M), in [-1, 1]."""
    return _pairwise(a, b, "diou")


def box_ciou(a: Tensor, b: Tensor) -> Tensor:
    """Pairwise complete IoU (Zheng et al. 2020) -> (N, M), in [-1.5, 1]."""
    return _pairwise(a, b, "ciou")


def aligned_box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of aligned pairs (box i of ``a`` with box i of ``b``, after broadcasting) of
    (..., 4) xyxy boxes -> (...). :func:`box_iou` is the (N, M) matrix of all pairs."""
    return _iou_family(a, b, "iou")


def aligned_box_giou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise generalized IoU -> (...)."""
    return _iou_family(a, b, "giou")


def aligned_box_diou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise distance IoU -> (...)."""
    return _iou_family(a, b, "diou")


def aligned_box_ciou(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise complete IoU -> (...); the box regression loss is 1 - aligned_box_ciou."""
    return _iou_family(a, b, "ciou")


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, max_det: int | None = None) -> Tensor:
    """Greedy non-maximum suppression.

    boxes (N, 4) xyxy, scores (N,). Repeatedly keeps the highest-scoring box left and
    drops every remaining box whose IoU with it is above ``iou_threshold``. Equal scores
    keep their input order (lower index first), so the result is deterministic.
    Returns int64 indices (K,) into ``boxes``, by descending score; at most ``max_det``.
    """
    return _greedy_nms(boxes, scores, None, iou_threshold, max_det)


def batched_nms(
    boxes: Tensor,
    scores: Tensor,
    classes: Tensor,
    iou_threshold: float,
    max_det: int | None = None,
    agnostic: bool = False,
) -> Tensor:
    """NMS within each class (across all classes when ``agnostic``).

    boxes (N, 4) xyxy, scores (N,), classes (N,) int. A box only suppresses boxes of its
    own class. Returns int64 indices (K,) by descending score (ties: lower index first),
    at most ``max_det`` in all.
    """
    return _greedy_nms(boxes, scores, None if agnostic else classes, iou_threshold, max_det)


_BLOCK = 1024  # rows of the IoU matrix computed at once: memory O(BLOCK * N), not O(N^2)


def _greedy_nms(
    boxes: Tensor, scores: Tensor, classes: Tensor | None, iou_threshold: float, max_det: int | None
) -> Tensor:
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    limit = len(order) if max_det is None else max(int(max_det), 0)
    boxes = boxes[order].float()
    groups = None if classes is None else classes[order]
    n = len(order)
    removed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for start in range(0, n, _BLOCK):
        if len(keep) >= limit:
            break
        stop = min(start + _BLOCK, n)
        over = box_iou(boxes[start:stop], boxes[start:]) > iou_threshold  # (b, n - start)
        if groups is not None:
            over &= groups[start:stop, None] == groups[None, start:]
        over = over.cpu().numpy()
        rem = removed[start:]  # a view: marks land in ``removed``
        for i in range(stop - start):
            if rem[i]:
                continue
            keep.append(start + i)
            if len(keep) >= limit:
                break
            rem |= over[i]  # a box only ever suppresses lower-ranked ones
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]
