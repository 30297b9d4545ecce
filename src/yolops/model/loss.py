"""The detection loss: BCE classification, CIoU box regression and distribution focal
loss (DFL, Li et al. 2020), on task-aligned targets (:mod:`yolops.model.assign`).

Scale, so that hyper-parameters from the YOLO line carry over (lr, grad clipping):
each part is a mean per unit of target score over the whole batch (the sum of the
targets' soft scores, not the anchor count, so crowded images do not dominate), and
``total`` is the weighted sum of the parts times the batch size, i.e. on the scale of a
sum of per-image losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from yolops.errors import ConfigError
from yolops.model.assign import assign_targets
from yolops.model.boxes import aligned_box_ciou
from yolops.model.yolo import HeadOutput, decode_boxes


@dataclass
class LossParts:
    """total: scalar to call ``.backward()`` on (see the module docstring for its scale);
    box, cls, dfl: the unweighted parts, detached, for logging."""

    total: Tensor
    box: Tensor
    cls: Tensor
    dfl: Tensor


class DetectionLoss:
    """Loss of a :class:`~yolops.model.yolo.YOLO` head against a batch of targets."""

    def __init__(
        self,
        num_classes: int,
        reg_max: int = 16,
        box_weight: float = 7.5,
        cls_weight: float = 0.5,
        dfl_weight: float = 1.5,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
    ):
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.box_weight, self.cls_weight, self.dfl_weight = box_weight, cls_weight, dfl_weight
        self.topk, self.alpha, self.beta = topk, alpha, beta

    def __call__(self, out: HeadOutput, targets: Tensor) -> LossParts:
        """out: the head outputs for B images; targets (M, 6) rows
        [batch_index, class_id, x1, y1, x2, y2], boxes in input pixels; M may be 0."""
        batch = out.cls_logits.shape[0]
        gt_labels, gt_boxes, gt_mask = pad_targets(targets, batch, self.num_classes)
        pred_boxes = decode_boxes(out)  # (B, A, 4) pixels, differentiable
        assigned = assign_targets(
            out.cls_logits.detach().sigmoid(),
            pred_boxes.detach(),
            out.anchors,
            gt_labels,
            gt_boxes,
            gt_mask,
            self.topk,
            self.alpha,
            self.beta,
        )
        # Normaliser: total target score of the batch (>= 1 so empty batches stay finite).
        norm = assigned.target_scores.sum().clamp(min=1.0)
        cls = (
            F.binary_cross_entropy_with_logits(
                out.cls_logits, assigned.target_scores, reduction="sum"
            )
            / norm
        )

        fg = assigned.fg_mask  # (B, A); empty selections below sum to 0 and keep the graph
        weight = assigned.target_scores.sum(-1)[fg]  # (P,) quality of each positive
        box = (
            (1.0 - aligned_box_ciou(pred_boxes[fg], assigned.target_boxes[fg])) * weight
        ).sum() / norm

        anchors = out.anchors[None].expand(batch, -1, -1)[fg]  # (P, 2)
        strides = out.strides[None].expand(batch, -1)[fg]  # (P,)
        ltrb = (
            torch.cat(
                (
                    anchors - assigned.target_boxes[fg][:, :2],
                    assigned.target_boxes[fg][:, 2:] - anchors,
                ),
                -1,
            )
            / strides[:, None]
        )
        dfl = (distribution_focal_loss(out.box_dist[fg], ltrb, self.reg_max) * weight).sum() / norm

        total = (self.box_weight * box + self.cls_weight * cls + self.dfl_weight * dfl) * batch
        return LossParts(total, box.detach(), cls.detach(), dfl.detach())


def distribution_focal_loss(box_dist: Tensor, ltrb: Tensor, reg_max: int) -> Tensor:
    """(P, 4 * R) distribution logits, (P, 4) target distances in stride units -> (P,).

    A target distance t between bins i and i + 1 is the mix (i + 1 - t, t - i) of the
    two bins; the loss is the cross-entropy against that mix, averaged over the 4 sides.
    Targets are clamped just below R - 1, the farthest distance the head can express.
    """
    t = ltrb.clamp(0, reg_max - 1 - 0.01)
    left = t.floor().long()
    w_left = left + 1 - t
    logits = box_dist.reshape(-1, reg_max)  # (P * 4, R)
    ce_left = F.cross_entropy(logits, left.reshape(-1), reduction="none").view_as(t)
    ce_right = F.cross_entropy(logits, (left + 1).reshape(-1), reduction="none").view_as(t)
    return (ce_left * w_left + ce_right * (1 - w_left)).mean(-1)


def pad_targets(targets: Tensor, batch: int, num_classes: int) -> tuple[Tensor, Tensor, Tensor]:
    """(M, 6) [batch_index, class_id, x1, y1, x2, y2] rows -> per image, padded to the
    largest count G: labels (B, G) int64, boxes (B, G, 4) float, mask (B, G) bool."""
    targets = targets.reshape(-1, 6)
    device = targets.device
    image = targets[:, 0].long()
    labels = targets[:, 1].long()
    if len(targets):
        if image.min() < 0 or image.max() >= batch:
            raise ConfigError(f"loss: target batch index {int(image.max())} outside 0..{batch - 1}")
        if labels.min() < 0 or labels.max() >= num_classes:
            bad = int(labels.max() if labels.max() >= num_classes else labels.min())
            raise ConfigError(
                f"loss: target class id {bad} outside 0..{num_classes - 1} "
                f"(the model was built for {num_classes} classes)"
            )
    counts = torch.bincount(image, minlength=batch)  # (B,)
    g = int(counts.max()) if len(targets) else 0
    order = torch.sort(image, stable=True).indices
    image, labels, boxes = image[order], labels[order], targets[order, 2:].float()
    starts = torch.cumsum(counts, 0) - counts  # first row of each image
    slot = torch.arange(len(image), device=device) - starts[image]  # rank within its image
    gt_labels = torch.zeros((batch, g), dtype=torch.long, device=device)
    gt_boxes = torch.zeros((batch, g, 4), dtype=torch.float32, device=device)
    gt_mask = torch.zeros((batch, g), dtype=torch.bool, device=device)
    gt_labels[image, slot] = labels
    gt_boxes[image, slot] = boxes
    gt_mask[image, slot] = True
    return gt_labels, gt_boxes, gt_mask
