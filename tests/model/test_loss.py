"""Detection loss: empty targets, its scale, that it falls as predictions approach the
targets, that gradients reach the network, DFL and target padding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from yolops.errors import ConfigError
from yolops.model.loss import DetectionLoss, distribution_focal_loss, pad_targets
from yolops.model.yolo import HeadOutput, anchor_grid, build_model

NC, R = 3, 16


def head_output(batch: int = 2, size: int = 64, seed: int = 0) -> HeadOutput:
    """Random head outputs, as leaf tensors that can be optimised directly."""
    gen = torch.Generator().manual_seed(seed)
    anchors, strides = anchor_grid(size, size)
    a = len(anchors)
    return HeadOutput(
        box_dist=torch.randn(batch, a, 4 * R, generator=gen).requires_grad_(),
        cls_logits=(torch.randn(batch, a, NC, generator=gen) - 4).requires_grad_(),
        anchors=anchors,
        strides=strides,
    )


TARGETS = torch.tensor(
    [
        [0, 1, 8.0, 10.0, 40.0, 38.0],
        [0, 0, 30.0, 30.0, 60.0, 62.0],
        [1, 2, 12.0, 4.0, 28.0, 30.0],
    ]
)


def test_empty_targets_give_a_finite_loss_with_zero_box_and_dfl():
    out = head_output()
    parts = DetectionLoss(NC)(out, torch.zeros(0, 6))
    assert torch.isfinite(parts.total)
    assert parts.box == 0 and parts.dfl == 0 and parts.cls > 0
    parts.total.backward()
    assert out.box_dist.grad.abs().sum() == 0  # nothing to regress toward
    assert out.cls_logits.grad.abs().sum() > 0  # but background still learns


def test_an_image_without_targets_next_to_one_with_targets():
    out = head_output()
    parts = DetectionLoss(NC)(out, TARGETS[:2])  # all on image 0
    assert all(torch.isfinite(p) for p in (parts.total, parts.box, parts.cls, parts.dfl))
    assert parts.box > 0 and parts.dfl > 0


def test_total_is_the_weighted_sum_times_the_batch_size():
    loss = DetectionLoss(NC, box_weight=2.0, cls_weight=3.0, dfl_weight=5.0)
    parts = loss(head_output(batch=2), TARGETS)
    want = 2 * (2.0 * parts.box + 3.0 * parts.cls + 5.0 * parts.dfl)
    torch.testing.assert_close(parts.total.detach(), want)
    assert not parts.box.requires_grad and parts.total.requires_grad


def test_loss_falls_as_predictions_move_toward_the_targets():
    out = head_output()
    loss = DetectionLoss(NC)
    opt = torch.optim.Adam([out.box_dist, out.cls_logits], lr=0.1)
    first = loss(out, TARGETS)
    for _ in range(60):
        parts = loss(out, TARGETS)
        opt.zero_grad()
        parts.total.backward()
        opt.step()
    last = loss(out, TARGETS)
    assert last.total < 0.3 * first.total
    assert last.box < 0.5 * first.box and last.dfl < 0.5 * first.dfl and last.cls < first.cls


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = build_model("n", NC).train()
    out = model(torch.rand(2, 3, 64, 64))
    parts = DetectionLoss(NC)(out, TARGETS)
    parts.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert model.head.box[0][-1].weight.grad.abs().sum() > 0
    assert model.head.cls[0][-1].weight.grad.abs().sum() > 0
    assert model.backbone.stem.conv.weight.grad.abs().sum() > 0


def test_dfl_is_lowest_at_the_two_bin_mix_of_the_target():
    t = torch.tensor([[2.3, 0.0, 7.0, 14.99]])  # (1, 4) stride units
    mix = torch.zeros(4, R)
    for side, value in enumerate(t[0].clamp(max=R - 1 - 0.01).tolist()):
        i = math.floor(value)
        mix[side, i], mix[side, i + 1] = i + 1 - value, value - i
    best = torch.log(mix.clamp(min=1e-9)).reshape(1, 4 * R)
    at_best = distribution_focal_loss(best, t, R)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        other = best + 0.5 * torch.randn(best.shape, generator=gen)
        assert distribution_focal_loss(other, t, R) > at_best
    # and at its minimum it equals the entropy of the mix
    entropy = -(mix * torch.log(mix.clamp(min=1e-9))).sum(-1).mean()
    torch.testing.assert_close(at_best[0], entropy, atol=1e-4, rtol=1e-4)
    # a distance on a bin is a one-hot target: plain cross-entropy on that bin
    logits = torch.randn(1, 4 * R, generator=gen)
    on_bin = torch.tensor([[3.0, 3.0, 3.0, 3.0]])
    want = F.cross_entropy(logits.reshape(4, R), torch.full((4,), 3)).reshape(1)
    torch.testing.assert_close(distribution_focal_loss(logits, on_bin, R), want)


def test_pad_targets_groups_rows_by_image_in_order():
    targets = torch.tensor(
        [
            [2, 1, 1.0, 1.0, 2.0, 2.0],
            [0, 0, 3.0, 3.0, 4.0, 4.0],
            [2, 2, 5.0, 5.0, 6.0, 6.0],
        ]
    )
    labels, boxes, mask = pad_targets(targets, batch=3, num_classes=NC)
    assert labels.shape == (3, 2) and boxes.shape == (3, 2, 4) and mask.shape == (3, 2)
    assert mask.tolist() == [[True, False], [False, False], [True, True]]
    assert labels[2].tolist() == [1, 2] and labels[0, 0] == 0
    assert boxes[2, 1].tolist() == [5, 5, 6, 6]
    empty = pad_targets(torch.zeros(0, 6), batch=2, num_classes=NC)
    assert [t.shape for t in empty] == [(2, 0), (2, 0, 4), (2, 0)]


@pytest.mark.parametrize(
    "row, what",
    [
        ([0, 3, 1, 1, 2, 2], "class id 3 outside 0..2"),
        ([0, -1, 1, 1, 2, 2], "class id -1"),
        ([5, 0, 1, 1, 2, 2], "batch index 5 outside 0..1"),
    ],
)
def test_bad_targets_are_refused_with_a_clear_error(row, what):
    with pytest.raises(ConfigError, match=what):
        DetectionLoss(NC)(head_output(batch=2), torch.tensor([row], dtype=torch.float32))
