"""The device and its CPU threads."""

from __future__ import annotations

import pytest
import torch

from yolops.device import cpu_count, select_device
from yolops.errors import ConfigError


def test_cpu_count_honours_a_lower_omp_num_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    usable = cpu_count()
    assert usable >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_count() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(usable + 8))
    assert cpu_count() == usable  # never more than the cores this process may use
    for ignored in ("", "0", "-2", "many"):
        monkeypatch.setenv("OMP_NUM_THREADS", ignored)
        assert cpu_count() == usable


def test_cpu_threads_follow_the_request():
    before = torch.get_num_threads()
    try:
        assert select_device("cpu", threads=1).type == "cpu"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("spec", ["tpu", "cuda:x"])
def test_a_device_that_cannot_exist_is_a_config_error(spec):
    with pytest.raises(ConfigError):
        select_device(spec)
