"""Schedule, budget, EMA and config: the small pieces of the training engine."""

import time

import pytest
import torch
from torch import nn

from yolops.errors import ConfigError
from yolops.train.config import TrainConfig
from yolops.train.ema import ModelEMA
from yolops.train.schedule import Budget, Schedule


def test_lr_warms_up_then_decays_to_final():
    s = Schedule(lr0=0.01, lrf=0.01, warmup=0.1)
    assert s.lr(0.0) == 0.0
    assert s.lr(0.05) == pytest.approx(0.5 * s.lr(0.1), rel=0.05)
    peak = s.lr(0.1)
    assert peak == pytest.approx(0.01, rel=0.03)
    values = [s.lr(p / 100) for p in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone decay after warmup
    assert s.lr(1.0) == pytest.approx(0.0001)
    assert s.bias_lr(0.0) == pytest.approx(0.1) and s.bias_lr(0.1) == pytest.approx(peak)


def test_mosaic_closes_for_the_last_share():
    s = Schedule(lr0=0.01, close_mosaic=0.2)
    assert s.mosaic_on(0.79) and not s.mosaic_on(0.8)


def test_iteration_budget_progress():
    b = Budget(total_iters=200)
    assert b.progress(0) == 0 and b.progress(100) == 0.5 and b.progress(400) == 1.0


def test_time_budget_counts_time_before_resume_and_reserve():
    start = time.perf_counter()
    b = Budget(seconds=10.0, elapsed_before=4.0, reserve=2.0)
    p = b.progress(0)
    # 4 s of the 8 s usable (10 less the reserve) were spent before; the rest is this
    # test's own time, however slow the machine is.
    assert 0.5 <= p <= (4.0 + time.perf_counter() - start) / 8.0
    time.sleep(0.05)
    assert b.remaining() < 4.0
    with pytest.raises(ValueError):
        Budget()


def test_ema_follows_model_with_ramped_decay():
    model = nn.Linear(2, 1, bias=False)
    ema = ModelEMA(model, decay=0.9, tau=1.0)
    with torch.no_grad():
        model.weight.fill_(1.0)
    start = ema.module.weight.clone()
    ema.update(model)
    d = 0.9 * (1 - torch.exp(torch.tensor(-1.0))).item()
    assert torch.allclose(ema.module.weight, d * start + (1 - d) * 1.0)
    for _ in range(200):
        ema.update(model)
    assert torch.allclose(ema.module.weight, torch.ones_like(start), atol=1e-6)
    restored = ModelEMA(model)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 201 and torch.equal(restored.module.weight, ema.module.weight)


def test_config_validation_and_yaml(tmp_path):
    with pytest.raises(ConfigError, match="multiple of 32"):
        TrainConfig(imgsz=300)
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="lion")
    p = tmp_path / "c.yaml"
    p.write_text("imgsz: 256\nepochs: 3\naugment:\n  fliplr: 0.0\n")
    cfg = TrainConfig.from_yaml(p)
    assert cfg.imgsz == 256 and cfg.epochs == 3 and cfg.augment.fliplr == 0.0
    p.write_text("imgsz: 256\nlearning_rate: 3\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_yaml(p)
    p.write_text("imgsz: [1, 2\n")
    with pytest.raises(ConfigError, match="c.yaml"):
        TrainConfig.from_yaml(p)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
