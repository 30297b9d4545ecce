"""torch's threads follow the CPU other processes leave (issue 17, item 15)."""

from __future__ import annotations

from yolops.train.cpu_share import CpuShare, machine_busy_seconds


class Machine:
    """A fake clock, machine busy time and own CPU time, advanced by hand."""

    def __init__(self):
        self.t = self.busy = self.own = 0.0

    def run(self, seconds: float, ours: float, others: float) -> None:
        self.t += seconds
        self.own += ours * seconds
        self.busy += (ours + others) * seconds


def test_threads_drop_while_a_neighbour_takes_a_core_and_come_back_after():
    m, set_to = Machine(), []
    share = CpuShare(2, set_to.append, busy=lambda: m.busy, own=lambda: m.own, clock=lambda: m.t)
    assert share.active and share.threads == 2
    m.run(1.0, ours=2.0, others=0.0)
    assert share.tick() is None  # not yet time to look
    m.run(1.5, ours=2.0, others=0.0)
    assert share.tick() is None and set_to == []  # alone: all cores
    m.run(2.5, ours=1.0, others=1.0)  # a neighbour takes a core
    assert share.tick() == 1 and set_to == [1]
    m.run(2.5, ours=1.0, others=1.0)
    assert share.tick() is None  # still busy: stays at one
    m.run(2.5, ours=1.0, others=0.0)  # the neighbour left
    assert share.tick() == 2 and set_to == [1, 2] and share.changes == 2


def test_never_below_one_thread_and_off_without_proc_stat_or_a_second_core():
    m, set_to = Machine(), []
    share = CpuShare(2, set_to.append, busy=lambda: m.busy, own=lambda: m.own, clock=lambda: m.t)
    m.run(3.0, ours=0.5, others=3.0)  # others want more than the machine has
    assert share.tick() == 1
    assert not CpuShare(2, set_to.append, busy=lambda: None).active
    assert not CpuShare(1, set_to.append).active


def test_proc_stat_is_read_as_busy_seconds(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 30 0 0 0 0 0\ncpu0 ...\n")
    from yolops.train.cpu_share import TICKS

    assert machine_busy_seconds(str(stat)) == 150 / TICKS
    assert machine_busy_seconds(str(tmp_path / "missing")) is None
