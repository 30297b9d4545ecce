"""Progress of long work: a Rich bar on a terminal, plain lines with counts and an ETA
anywhere else, nothing without a console."""

import io
import time

from rich.console import Console

from yolops.progress import Progress, format_seconds


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200), out


def test_format_seconds():
    assert [format_seconds(s) for s in (0.42, 12.4, 185, 3720)] == [
        "0.4 s",
        "12 s",
        "3 min 05 s",
        "1 h 02 min",
    ]


def test_plain_lines_say_counts_share_elapsed_and_eta():
    console, out = plain_console()
    clock = Clock()
    with Progress(console, "Predicting", total=40, every=3600, clock=clock) as progress:
        clock.now += 10
        progress.advance(10)
        assert progress.line() == ("Predicting: 10/40 images (25%), 10 s elapsed, about 30 s left")
        clock.now += 20
        progress.advance(30)
    lines = out.getvalue().splitlines()
    assert lines == ["Predicting: 0/40 images (0%), 0.0 s elapsed", "Predicting: 40 images in 30 s"]


def test_plain_lines_come_every_few_seconds_while_the_work_runs():
    console, out = plain_console()
    with Progress(console, "Validating", total=5, every=0.01) as progress:
        progress.advance(2)
        deadline = time.monotonic() + 10
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    text = out.getvalue()
    assert "Validating: 2/5 images (40%)" in text and "left" in text


def test_unknown_amount_of_work_says_how_long_it_has_run():
    console, out = plain_console()
    clock = Clock()
    with Progress(console, "Exporting", every=3600, clock=clock) as progress:
        clock.now += 75
        assert progress.line() == "Exporting … (1 min 15 s)"
    assert out.getvalue().splitlines() == ["Exporting … (0.0 s)", "Exporting: done in 1 min 15 s"]


def test_a_terminal_gets_a_bar_that_goes_away():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with Progress(console, "Predicting", total=3) as progress:
        assert progress.live
        progress.advance(3)
    assert "Predicting: 3 images in" in out.getvalue()


def test_no_console_no_output_and_failures_print_no_summary():
    with Progress(None, "Predicting", total=2) as progress:
        progress.advance()
    assert progress.done == 1
    console, out = plain_console()
    try:
        with Progress(console, "Predicting", total=2, every=3600):
            raise ValueError("boom")
    except ValueError:
        pass
    assert out.getvalue().splitlines() == ["Predicting: 0/2 images (0%), 0.0 s elapsed"]
