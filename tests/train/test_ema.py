"""ModelEMA: the decay ramp, the average itself (hand-computed on tiny models), BatchNorm
buffers, that the EMA copy never trains, and that its state round-trips for a resume."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from yolops.model.yolo import SCALES, build_model
from yolops.train.ema import ModelEMA


def constant_(model: nn.Module, value: float) -> nn.Module:
    """Every parameter of ``model`` filled with ``value``, in place."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


def conv_bn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4))


# -- the decay ramp ----------------------------------------------------------------------


def test_decay_ramps_up_as_the_formula_says():
    """d = decay * (1 - exp(-updates / tau)): 0 before any update, then rising
    monotonically toward ``decay``; checked against values worked out by hand for the
    trainer's defaults (decay 0.9999, tau 2000)."""
    ema = ModelEMA(nn.Linear(1, 1), decay=0.9999, tau=2000.0)
    assert ema.updates == 0 and ema.current_decay() == 0.0
    by_hand = {
        1: 0.000499825033,  # 0.9999 * (1 - e^-0.0005)
        10: 0.004987022055,  # 0.9999 * (1 - e^-0.005)
        100: 0.048765698442,  # 0.9999 * (1 - e^-0.05)
        2000: 0.632057346773,  # 0.9999 * (1 - 1/e): one time constant
        10000: 0.993162726796,  # 0.9999 * (1 - e^-5)
    }
    for updates, want in by_hand.items():
        ema.updates = updates
        assert ema.current_decay() == pytest.approx(want, rel=1e-9)
    ramp = []
    for updates in range(0, 40001, 500):
        ema.updates = updates
        ramp.append(ema.current_decay())
    assert all(a < b for a, b in zip(ramp, ramp[1:]))
    assert ramp[-1] == pytest.approx(0.9999, rel=1e-8) and ramp[-1] < 0.9999


def test_each_update_counts_once_and_uses_the_new_count():
    """update() increments ``updates`` and averages with the decay of the incremented
    count: the first update uses d(1), not d(0) (which would copy the model outright)."""
    model = constant_(nn.Linear(1, 1), 0.0)
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    constant_(model, 1.0)
    ema.update(model)
    assert ema.updates == 1
    d1 = 0.9 * (1 - math.exp(-1))  # 0.568909...
    assert ema.module.weight.item() == pytest.approx((1 - d1) * 1.0, rel=1e-6)
    assert ema.module.weight.item() == pytest.approx(0.431091, abs=1e-6)
    assert ModelEMA(model, updates=7).updates == 7


# -- the average -------------------------------------------------------------------------


def test_ema_lags_a_changing_model_as_hand_computed():
    """ema_k = d_k * ema_(k-1) + (1 - d_k) * model_k with d_k = 0.5 * (1 - e^-k), on a
    1x1 Linear whose weight steps 1, 2, 3 and bias -1, -2, -3 from an EMA of 0, 0:

        d_1 = 0.316060, ema_1 = 0.683940 * 1                 = 0.683940
        d_2 = 0.432332, ema_2 = d_2 * 0.683940 + 0.567668 * 2 = 1.431025
        d_3 = 0.475106, ema_3 = d_3 * 1.431025 + 0.524894 * 3 = 2.254570

    The EMA trails the model, and the model itself is left alone."""
    model = constant_(nn.Linear(1, 1), 0.0)
    ema = ModelEMA(model, decay=0.5, tau=1.0)
    by_hand = [0.6839397206, 1.4310245556, 2.2545696217]
    for step, want in enumerate(by_hand, start=1):
        with torch.no_grad():
            model.weight.fill_(float(step))
            model.bias.fill_(-float(step))
        ema.update(model)
        assert ema.module.weight.item() == pytest.approx(want, rel=1e-6)
        assert ema.module.bias.item() == pytest.approx(-want, rel=1e-6)
        assert 0 < model.weight.item() - ema.module.weight.item() < 1  # trails, never leads
        assert model.weight.item() == step and model.bias.item() == -step


def test_ema_of_a_constant_model_reaches_and_stays_at_it():
    """Starting as a copy, updates with an unchanged model keep the EMA equal to it; after
    the model jumps to new weights, the gap after n updates is prod(d_k) times the initial
    gap (checked against that product), and after enough updates the EMA equals the model
    (to float32 rounding)."""
    model = conv_bn()
    ema = ModelEMA(model, decay=0.9, tau=2.0)
    for _ in range(5):
        ema.update(model)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(ema.module.state_dict()[name], value, msg=name)

    start = {k: v.clone() for k, v in ema.module.state_dict().items()}
    constant_(model, 3.0)
    for _ in range(20):
        ema.update(model)
    shrink = math.prod(0.9 * (1 - math.exp(-k / 2.0)) for k in range(6, 26))
    for name, param in model.named_parameters():
        gap = ema.module.state_dict()[name] - param
        torch.testing.assert_close(gap, shrink * (start[name] - param), rtol=1e-4, atol=1e-6)
    assert shrink > 1e-3  # still visibly behind after 20 updates
    for _ in range(200):
        ema.update(model)
    for name, param in model.named_parameters():
        torch.testing.assert_close(ema.module.state_dict()[name], param.detach())


def test_batchnorm_statistics_are_averaged_and_counters_copied():
    """Float buffers (running mean and variance) are averaged with the same decay as the
    weights; integer buffers (num_batches_tracked) are copied from the model."""
    model = conv_bn()
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    model.train()
    for seed in range(3):  # three batches move the running stats and the counter
        model(torch.randn(4, 2, 5, 5, generator=torch.Generator().manual_seed(seed)) * 3 + 1)
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1))
    bn, ema_bn = model[1], ema.module[1]
    for name in ("running_mean", "running_var"):
        want = d * before[f"1.{name}"] + (1 - d) * getattr(bn, name)
        torch.testing.assert_close(getattr(ema_bn, name), want)
        assert not torch.allclose(getattr(ema_bn, name), getattr(bn, name))  # averaged, not copied
    assert ema_bn.num_batches_tracked.dtype == torch.int64
    assert ema_bn.num_batches_tracked.item() == bn.num_batches_tracked.item() == 3


def test_every_entry_of_a_real_detector_follows_the_rule():
    """On the smallest registered detector after one training step: every floating-point
    entry of the EMA state is d * old + (1 - d) * new, every integer entry a copy."""
    torch.manual_seed(0)
    model = build_model(next(iter(SCALES)), 2)
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    before = {k: v.clone() for k, v in ema.module.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    model(
        torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ).cls_logits.sum().backward()
    optimizer.step()
    ema.update(model)
    d = 0.9 * (1 - math.exp(-1))
    new, got = model.state_dict(), ema.module.state_dict()
    assert set(got) == set(new)
    moved = 0
    for name, value in got.items():
        if value.dtype.is_floating_point:
            torch.testing.assert_close(value, d * before[name] + (1 - d) * new[name], msg=name)
            moved += not torch.equal(before[name], new[name])
        else:
            assert torch.equal(value, new[name]), name
    assert moved > len(got) // 2  # the step changed most entries: the check had teeth


# -- the EMA copy never trains -----------------------------------------------------------


def test_the_ema_copy_never_requires_grad_and_stays_in_eval_mode():
    """The EMA module is a separate copy (no shared storage) in eval mode with no parameter
    requiring grad, before and after updates and a state load; running it does not move
    its BatchNorm statistics; the model it copies keeps its mode and its requires_grad."""
    model = conv_bn().train()
    ema = ModelEMA(model, decay=0.9, tau=1.0)

    def check() -> None:
        assert not ema.module.training
        assert all(not m.training for m in ema.module.modules())
        assert all(not p.requires_grad and p.grad is None for p in ema.module.parameters())

    check()
    assert model.training and all(p.requires_grad for p in model.parameters())
    ema_ptrs = {p.data_ptr() for p in ema.module.state_dict().values()}
    assert ema_ptrs.isdisjoint(p.data_ptr() for p in model.state_dict().values())
    x = torch.randn(4, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    model(x).sum().backward()  # the model trains, with gradients
    ema.update(model)
    check()
    stats = ema.module[1].running_mean.clone()
    with torch.no_grad():
        ema.module(x + 10)
    assert torch.equal(ema.module[1].running_mean, stats)
    ema.load_state_dict(ema.state_dict())
    check()
    assert model.training and all(p.requires_grad for p in model.parameters())


# -- resume ------------------------------------------------------------------------------


def test_state_dict_round_trip_resumes_exactly():
    """state_dict() through torch.save / torch.load(weights_only=True), as checkpoints
    store it, into a fresh ModelEMA of a differently initialised model: the update count
    (an int) and every tensor come back exactly, and further updates then give bit for bit
    what the uninterrupted EMA gives."""
    model = conv_bn(seed=0)
    ema = ModelEMA(model, decay=0.9, tau=2.0)
    for step in range(5):
        constant_(model, float(step))
        ema.update(model)
    buffer = io.BytesIO()
    torch.save(ema.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    resumed = ModelEMA(conv_bn(seed=1), decay=0.9, tau=2.0)
    assert not torch.equal(resumed.module[0].weight, ema.module[0].weight)
    resumed.load_state_dict(state)
    assert resumed.updates == 5 and type(resumed.updates) is int
    assert resumed.current_decay() == ema.current_decay()
    for name, value in ema.module.state_dict().items():
        assert torch.equal(resumed.module.state_dict()[name], value), name
    assert not resumed.module.training

    for step in (5, 6):
        constant_(model, float(step))
        ema.update(model)
        resumed.update(model)
    assert resumed.updates == ema.updates == 7
    for name, value in ema.module.state_dict().items():
        assert torch.equal(resumed.module.state_dict()[name], value), name
