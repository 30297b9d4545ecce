"""The optimizer: parameter groups, its choice, and the schedule applied to it per step."""

from __future__ import annotations

import torch
from torch import nn

from yolops.train.config import TrainConfig
from yolops.train.schedule import Schedule


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> torch.optim.Optimizer:
    """Weight decay on conv/linear weights only; none on BatchNorm weights and biases
    (decaying them only fights the normalisation)."""
    decay, no_decay, biases = [], [], []
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if pname == "bias":
                biases.append(p)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                no_decay.append(p)
            else:
                decay.append(p)
    groups = [
        {"params": no_decay, "weight_decay": 0.0, "kind": "weight"},
        {"params": decay, "weight_decay": weight_decay, "kind": "weight"},
        {"params": biases, "weight_decay": 0.0, "kind": "bias"},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))


def resolve_optimizer(config: TrainConfig) -> tuple[str, float]:
    """``auto`` is AdamW for short runs: few updates favour its faster start."""
    name = "adamw" if config.optimizer == "auto" else config.optimizer
    lr0 = config.lr0 or (0.01 if name == "sgd" else 0.002)
    return name, lr0


def apply_schedule(optimizer: torch.optim.Optimizer, schedule: Schedule, progress: float) -> None:
    """Set every group's LR (biases have their own warmup) and momentum for ``progress``."""
    lr, bias_lr = schedule.lr(progress), schedule.bias_lr(progress)
    for g in optimizer.param_groups:
        g["lr"] = bias_lr if g.get("kind") == "bias" else lr
        if "momentum" in g:
            g["momentum"] = schedule.momentum_at(progress)
        elif "betas" in g:
            g["betas"] = (schedule.momentum_at(progress), g["betas"][1])
