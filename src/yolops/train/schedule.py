"""The training schedule as a function of progress in [0, 1].

Progress is the share of iterations done (epoch mode) or of the wall-clock budget
spent (``--time`` mode). Warmup, LR decay and mosaic closing are all defined on it,
so the same recipe stretches or shrinks to fit the budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from yolops.train.config import TrainConfig


@dataclass(frozen=True)
class Schedule:
    lr0: float
    lrf: float = 0.01  # final LR = lr0 * lrf
    warmup: float = 0.05  # share of progress
    warmup_bias_lr: float = 0.1  # bias LR starts high during warmup, a known help for detectors
    warmup_momentum: float = 0.8
    momentum: float = 0.937
    close_mosaic: float = 0.15

    def lr(self, progress: float) -> float:
        """Cosine decay from lr0 to lr0*lrf after a linear warmup."""
        p = min(max(progress, 0.0), 1.0)
        decay = self.lrf + (1 - self.lrf) * 0.5 * (1 + math.cos(math.pi * p))
        base = self.lr0 * decay
        if self.warmup > 0 and p < self.warmup:
            return base * p / self.warmup
        return base

    def bias_lr(self, progress: float) -> float:
        """Bias parameters warm up from a high LR down to the scheduled one."""
        p = min(max(progress, 0.0), 1.0)
        if self.warmup > 0 and p < self.warmup:
            t = p / self.warmup
            return self.warmup_bias_lr * (1 - t) + self.lr(p) * t
        return self.lr(p)

    def momentum_at(self, progress: float) -> float:
        if self.warmup > 0 and progress < self.warmup:
            t = progress / self.warmup
            return self.warmup_momentum + (self.momentum - self.warmup_momentum) * t
        return self.momentum

    def mosaic_on(self, progress: float) -> bool:
        return progress < 1.0 - self.close_mosaic


class Budget:
    """Tracks progress either by iterations or by wall-clock time.

    In time mode, ``elapsed_before`` carries the time spent before a resume and
    ``reserve`` the seconds kept back for the final evaluation and saving.

    ``anchor`` is ``(count, progress)``: where a resumed run that changed its length
    (epochs or time) stood when it resumed, in this budget's unit (iterations or
    seconds), and its progress there. From it, progress runs linearly on to 1 at the end
    of the new budget, so the schedule continues where it was rather than jumping: see
    :func:`yolops.train.resume.resumed_budget`. The default ``(0, 0.0)`` gives exactly
    ``count / total``.
    """

    def __init__(
        self,
        total_iters: int | None = None,
        seconds: float | None = None,
        elapsed_before: float = 0.0,
        reserve: float = 0.0,
        anchor: tuple[float, float] = (0, 0.0),
    ):
        if (total_iters is None) == (seconds is None):
            raise ValueError("a budget is either iterations or seconds")
        self.total_iters = total_iters
        self.seconds = seconds
        self.elapsed_before = elapsed_before
        self.reserve = reserve
        self.anchor = anchor
        self._start = time.perf_counter()

    @property
    def timed(self) -> bool:
        return self.seconds is not None

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._start

    def count(self, iteration: int) -> float:
        """How much of the budget's unit is used: seconds (time mode) or iterations."""
        return self.elapsed() if self.seconds is not None else iteration

    def share(self, count: float) -> float:
        """Share of what the budget had left at its anchor that is used at ``count``."""
        start = self.anchor[0]
        if self.seconds is not None:
            return (count - start) / max(self.seconds - self.reserve - start, 1e-9)
        return (count - start) / max((self.total_iters or 1) - start, 1)

    def progress_at(self, count: float) -> float:
        # With the default anchor this is exactly count / total: 0.0 + 1.0 * x == x.
        start_progress = self.anchor[1]
        return min(1.0, start_progress + (1.0 - start_progress) * self.share(count))

    def progress(self, iteration: int) -> float:
        return self.progress_at(self.count(iteration))

    def spent(self, iteration: int) -> bool:
        """Whether the budget is used up. Not ``progress >= 1``: a run extended after its
        schedule had ended stays at progress 1 for the whole extension."""
        return self.share(self.count(iteration)) >= 1.0

    def remaining(self) -> float:
        assert self.seconds is not None
        return self.seconds - self.reserve - self.elapsed()


def time_reserve(seconds: float) -> float:
    """Seconds a time budget keeps back for the final evaluation and plots."""
    return min(0.1 * seconds, 4.0 + 0.02 * seconds)


def build_budget(
    config: TrainConfig,
    iters_per_epoch: int,
    elapsed_before: float = 0.0,
    anchor: tuple[float, float] = (0, 0.0),
) -> Budget:
    """The budget ``config`` asks for: ``time`` seconds, else ``epochs`` epochs."""
    if config.time is not None:
        return Budget(
            seconds=config.time,
            elapsed_before=elapsed_before,
            reserve=time_reserve(config.time),
            anchor=anchor,
        )
    return Budget(
        total_iters=config.epochs * iters_per_epoch, elapsed_before=elapsed_before, anchor=anchor
    )
