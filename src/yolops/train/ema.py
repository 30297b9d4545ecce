"""Exponential moving average of model weights, evaluated and saved instead of the raw weights."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """Keeps ``ema = d * ema + (1 - d) * model`` after every optimizer step, with a
    decay that ramps up from 0 (``d = decay * (1 - exp(-updates / tau))``) so the
    average is not dominated by the random initial weights."""

    def __init__(
        self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0
    ):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.tau = tau
        self.updates = updates

    def current_decay(self) -> float:
        return self.decay * (1.0 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        model_state = model.state_dict()
        for name, ema_value in self.module.state_dict().items():
            if ema_value.dtype.is_floating_point:
                ema_value.mul_(d).add_(model_state[name].detach(), alpha=1.0 - d)
            else:  # BN batch counters and other integer buffers: copy
                ema_value.copy_(model_state[name])

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
