"""Where training and inference run: CUDA when present, else the CPU with sane threads."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from yolops.errors import ConfigError

if TYPE_CHECKING:  # torch is imported where a device is chosen: cpu_count() needs none
    import torch


def cpu_count() -> int:
    """The cores this process may use, or ``OMP_NUM_THREADS`` when that is set lower:
    the usual way to tell a library to leave the other cores to other processes."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) > 0:
        return min(usable, int(limit))
    return usable


def select_device(spec: str = "auto", threads: int = 0) -> torch.device:
    """``auto`` picks CUDA when available, else the CPU. On the CPU, torch uses
    ``threads`` intra-op threads (all usable cores when 0) and one inter-op thread,
    so it never oversubscribes a small machine."""
    import torch

    spec = spec.lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {spec!r} asked for, but CUDA is not available on this machine")
    try:
        device = torch.device(spec)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {spec!r}: {e}") from None
    if device.type == "cpu":
        n = threads or cpu_count()
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return device
