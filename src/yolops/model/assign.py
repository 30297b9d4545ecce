"""Task-aligned label assignment (TOOD, Feng et al. 2021; as used by YOLOv8).

Which anchor points learn which ground-truth box is decided from the current
predictions: an anchor point is a good match for a ground truth when it both scores
the right class and regresses a box that overlaps it. Pure, no gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from yolops.model.boxes import aligned_box_iou

BACKGROUND = -1  # target_labels value of anchors assigned to no ground truth


@dataclass
class Assignment:
    """Targets for A anchor points of B images, C classes.

    target_labels: (B, A) int64 class of the assigned ground truth, BACKGROUND (-1) if none.
    target_boxes: (B, A, 4) xyxy input pixels of the assigned ground truth (0 if none).
    target_scores: (B, A, C) classification targets: zero except at the assigned class,
        where it is the anchor's normalised alignment (the best anchor of a ground truth
        gets that ground truth's best predicted IoU), so scores learn to rank by quality.
    fg_mask: (B, A) bool, True where an anchor point has a ground truth.
    """

    target_labels: Tensor
    target_boxes: Tensor
    target_scores: Tensor
    fg_mask: Tensor


@torch.no_grad()
def assign_targets(
    pred_scores: Tensor,
    pred_boxes: Tensor,
    anchors: Tensor,
    gt_labels: Tensor,
    gt_boxes: Tensor,
    gt_mask: Tensor,
    topk: int = 10,
    alpha: float = 0.5,
    beta: float = 6.0,
) -> Assignment:
    """Assign ground truths to anchor points by task alignment.

    pred_scores (B, A, C) sigmoid probabilities; pred_boxes (B, A, 4) xyxy pixels;
    anchors (A, 2) anchor-point centres (x, y) pixels; gt_labels (B, G) int64;
    gt_boxes (B, G, 4) xyxy pixels; gt_mask (B, G) bool, False for padding rows.

    1. Candidates of a ground truth: anchor points whose centre lies strictly inside it.
    2. Alignment t = score(gt class) ** alpha * IoU(pred box, gt box) ** beta.
    3. Each ground truth takes its ``topk`` candidates by t.
    4. An anchor point taken by several ground truths keeps the one its predicted box
       overlaps most (highest IoU).
    """
    b, a, num_classes = pred_scores.shape
    g = gt_boxes.shape[1]
    if g == 0:
        return _background(pred_scores, pred_boxes)
    # (B, G, A): candidates, overlaps and alignment of every (ground truth, anchor) pair
    valid = _centres_inside(anchors, gt_boxes) & gt_mask[:, :, None]
    iou = aligned_box_iou(gt_boxes[:, :, None, :], pred_boxes[:, None, :, :]).clamp(min=0)
    iou = torch.where(valid, iou, 0.0)
    labels = gt_labels.clamp(
        0, num_classes - 1
    )  # padding rows may hold anything; they are not valid
    score = torch.gather(pred_scores.transpose(1, 2), 1, labels[:, :, None].expand(-1, -1, a))
    align = torch.where(valid, score.pow(alpha) * iou.pow(beta), 0.0)

    # Top-k by alignment; anchors outside the box rank below every candidate (-1), so a
    # ground truth whose candidates all align at 0 still takes them and not outsiders.
    k = min(topk, a)
    top = torch.where(valid, align, -1.0).topk(k, dim=-1).indices  # (B, G, k)
    taken = torch.zeros_like(valid).scatter_(-1, top, True) & valid  # (B, G, A)

    # One ground truth per anchor: among those that took it, the highest IoU (ties:
    # the first ground truth). Non-takers are at -1, below any IoU.
    fg = taken.any(1)  # (B, A)
    gt_index = torch.where(taken, iou, -1.0).argmax(1)  # (B, A)
    positive = taken & (
        torch.arange(g, device=gt_index.device)[None, :, None] == gt_index[:, None, :]
    )

    target_labels = torch.gather(gt_labels, 1, gt_index).masked_fill(~fg, BACKGROUND)
    target_boxes = torch.gather(gt_boxes, 1, gt_index[..., None].expand(-1, -1, 4))
    target_boxes = target_boxes.masked_fill(~fg[..., None], 0.0)

    # Soft class targets: alignment scaled per ground truth so that its best-aligned
    # positive gets its best positive IoU.
    align = torch.where(positive, align, 0.0)
    best_align = align.amax(-1, keepdim=True)  # (B, G, 1)
    best_iou = torch.where(positive, iou, 0.0).amax(-1, keepdim=True)  # (B, G, 1)
    # where(): t ** 6 can underflow to 0 for poor early predictions; 0/0 must stay 0
    quality = torch.where(best_align > 0, align / best_align.clamp(min=1e-30) * best_iou, 0.0)
    quality = quality.amax(1)  # (B, A)
    onehot = F.one_hot(target_labels.clamp(min=0), num_classes).to(pred_scores.dtype)
    target_scores = onehot * (quality * fg)[..., None]
    return Assignment(target_labels, target_boxes, target_scores, fg)


def _centres_inside(anchors: Tensor, gt_boxes: Tensor, eps: float = 1e-9) -> Tensor:
    """(A, 2) points, (B, G, 4) xyxy boxes -> (B, G, A) bool: point strictly inside box."""
    left_top = anchors[None, None] - gt_boxes[:, :, None, :2]  # (B, G, A, 2)
    right_bottom = gt_boxes[:, :, None, 2:] - anchors[None, None]
    return torch.cat((left_top, right_bottom), -1).amin(-1) > eps


def _background(pred_scores: Tensor, pred_boxes: Tensor) -> Assignment:
    b, a, _ = pred_scores.shape
    return Assignment(
        target_labels=torch.full((b, a), BACKGROUND, dtype=torch.long, device=pred_scores.device),
        target_boxes=torch.zeros_like(pred_boxes),
        target_scores=torch.zeros_like(pred_scores),
        fg_mask=torch.zeros((b, a), dtype=torch.bool, device=pred_scores.device),
    )
