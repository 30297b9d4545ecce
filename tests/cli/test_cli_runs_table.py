"""`yolops runs list` at any terminal width: every run id whole (to copy), no cell cut."""

import io

import pytest
from rich.console import Console

from yolops.cli.runs import runs_table
from yolops.track.runs import RunSummary


def runs() -> list[RunSummary]:
    return [
        RunSummary(
            f"{i:x}" * 32,
            f"exp{i}",
            "train",
            "FINISHED",
            f"05-01 12:0{i}",
            "/home/someone/datasets/bccd-yolo/data.yaml",
            "",
            {"best/val/map50_95": 0.41 + i / 100},
            experiment="demo",
        )
        for i in range(1, 4)
    ]


def render(width: int) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(runs_table(runs(), "Runs of every experiment", console))
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_run_ids_are_whole_and_nothing_is_cut(width):
    text = render(width)
    table = [ln.rstrip() for ln in text.splitlines() if ln[:1] in "┏┃┡│├└"]
    assert all(ln[-1] in "┓┃┩│┤┘" for ln in table)  # the right border: nothing cropped
    assert "…" not in text
    for r in runs():
        assert r.run_id in text
        assert f"{r.headline_map()[1]:.4f}" in text


def test_a_wide_terminal_gets_one_line_per_run():
    text = render(200)
    for r in runs():
        line = next(ln for ln in text.splitlines() if r.run_id in ln)
        assert r.dataset in line and r.name in line and "finished" in line
