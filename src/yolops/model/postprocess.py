"""From decoded head outputs to final detections: confidence filter, NMS, max_det."""

from __future__ import annotations

import torch
from torch import Tensor

from yolops.model.boxes import batched_nms


def postprocess(
    boxes: Tensor,
    scores: Tensor,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: list[int] | None = None,
    agnostic: bool = False,
    max_candidates: int = 30000,
    multi_label: bool = False,
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Detections per image from ``decode`` outputs.

    boxes (B, A, 4) xyxy in input pixels; scores (B, A, C) probabilities. Each anchor
    gives one candidate, its best class (every class above ``conf`` when
    ``multi_label``); candidates scoring at least ``conf``, in ``classes`` when given,
    go through class-aware NMS (class-agnostic when ``agnostic``) at IoU ``iou``; the
    ``max_candidates`` best enter NMS, at most ``max_det`` leave it.

    Returns one (boxes (K, 4) float32 xyxy, scores (K,) float32, classes (K,) int64)
    tuple per image, by descending score.
    """
    return [
        _one_image(b, s, conf, iou, max_det, classes, agnostic, max_candidates, multi_label)
        for b, s in zip(boxes, scores)
    ]


def _one_image(
    boxes: Tensor,
    scores: Tensor,
    conf: float,
    iou: float,
    max_det: int,
    classes: list[int] | None,
    agnostic: bool,
    max_candidates: int,
    multi_label: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """boxes (A, 4), scores (A, C) -> (K, 4), (K,), (K,)."""
    if classes is not None:
        allowed = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
        allowed[torch.as_tensor(classes, dtype=torch.long, device=scores.device)] = True
        scores = scores.masked_fill(~allowed, 0.0)  # a class left out can never pass conf
    if multi_label:
        anchor, cls = torch.nonzero(scores >= conf, as_tuple=True)
        score = scores[anchor, cls]
    else:
        score, cls = scores.max(-1)
        anchor = torch.nonzero(score >= conf, as_tuple=True)[0]
        score, cls = score[anchor], cls[anchor]
    if classes is not None:
        ok = score > 0  # conf may be 0: masked classes must still stay out
        anchor, score, cls = anchor[ok], score[ok], cls[ok]
    if len(score) > max_candidates:
        # a stable sort, not topk: equal scores keep anchor order, so results are repeatable
        top = torch.sort(score, descending=True, stable=True).indices[:max_candidates]
        anchor, score, cls = anchor[top], score[top], cls[top]
    cand = boxes[anchor]
    keep = batched_nms(cand, score, cls, iou, max_det=max_det, agnostic=agnostic)
    return cand[keep].float(), score[keep].float(), cls[keep].long()
