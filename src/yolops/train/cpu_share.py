"""Training on a machine others use too: torch's threads follow the CPU left to us.

torch runs one OpenMP thread per core, and its threads spin-wait for each other at
every parallel region. When another process takes a core, one of our threads is
parked behind it and the others spin on it: training on 2 cores with a busy
neighbour ran 3.4x slower, not the 2x that losing a core costs. With one thread less
it ran 1.76x slower.

:class:`CpuShare` measures, every few seconds, how much CPU the other processes use
(the machine's busy time from ``/proc/stat`` less this process's own), and sets
torch's thread count to the cores they leave (at least one), back up when they go.
Only on Linux, only when the thread count is not fixed by the user.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
INTERVAL = 2.0  # seconds between looks


def machine_busy_seconds(path: str = "/proc/stat") -> float | None:
    """CPU seconds all cores have been busy since boot (None where unknown)."""
    try:
        with open(path) as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    # guest time is already counted in user time
    return (sum(ticks[:8]) - idle) / TICKS


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class CpuShare:
    """Set torch's threads (``set_threads``) to ``cores`` less the cores others use,
    looked at every ``interval`` seconds (:meth:`tick` is cheap between looks)."""

    def __init__(
        self,
        cores: int,
        set_threads: Callable[[int], None],
        interval: float = INTERVAL,
        busy: Callable[[], float | None] = machine_busy_seconds,
        own: Callable[[], float] = own_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cores, self.set_threads, self.interval = cores, set_threads, interval
        self.busy, self.own, self.clock = busy, own, clock
        self.threads = cores
        self.changes = 0
        self._last = self._sample()

    def _sample(self) -> tuple[float, float | None, float]:
        return self.clock(), self.busy(), self.own()

    @property
    def active(self) -> bool:
        return self.cores > 1 and self._last[1] is not None

    def tick(self) -> int | None:
        """Look again if ``interval`` has passed; the new thread count when it changed."""
        if not self.active or self.clock() - self._last[0] < self.interval:
            return None
        then, now = self._last, self._sample()
        self._last = now
        wall = now[0] - then[0]
        if now[1] is None or then[1] is None or wall <= 0:
            return None
        others = max(0.0, ((now[1] - then[1]) - (now[2] - then[2])) / wall)
        wanted = min(self.cores, max(1, self.cores - int(others + 0.5)))
        if wanted == self.threads:
            return None
        self.threads = wanted
        self.changes += 1
        self.set_threads(wanted)
        return wanted
