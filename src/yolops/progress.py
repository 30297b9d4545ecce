"""Progress of long work, as people read it: counts, elapsed time and an ETA.

One helper for every long job (predicting over a folder or a video, validating a
dataset, exporting a model). On a terminal it draws a Rich bar (or a spinner when the
amount of work is unknown) that disappears when the work ends; anywhere else (a log
file, CI, a pipe) it prints a plain line when the work starts, one every ``every``
seconds while it runs, and one when it ends, so that a long job is never silent.
Without a console it shows nothing, which is what library callers get by default::

    with Progress(console, "Predicting", total=len(images), unit="images") as progress:
        for image in images:
            ...
            progress.advance()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Progress of one piece of work on ``console`` (see the module's docstring).

    ``total``: how many ``unit`` the work has, or None when unknown (a spinner, and
    plain lines that say only how long it has been running). ``every``: seconds
    between plain lines off a terminal. ``clock``: seconds, monotonic (for tests)."""

    def __init__(
        self,
        console: Console | None,
        description: str,
        total: int | None = None,
        unit: str = "images",
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.console = console
        self.description = description
        self.total = total
        self.unit = unit
        self.every = every
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._bar = None
        self._task = None
        self._stop = threading.Event()
        self._finished = False
        self._ticker: threading.Thread | None = None

    @property
    def live(self) -> bool:
        """Whether a Rich bar is drawn (a terminal), not plain lines."""
        return (
            self.console is not None
            and self.console.is_terminal
            and not self.console.is_dumb_terminal
        )

    def __enter__(self) -> Progress:
        self.started = self.clock()
        if self.console is None:
            return self
        if self.live:
            self._start_bar()
        else:
            self.console.print(self.line(), highlight=False, soft_wrap=True)
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, advance=n)

    def finish(self, summary: bool = True) -> None:
        """Stop showing progress (the bar, the plain lines) and print the summary line;
        once (``__exit__`` calls it too). Call it early when the work that follows
        draws its own progress: Rich shows one live display at a time."""
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._bar.stop()
        if self.console is not None and summary:
            self.console.print(self.summary(), highlight=False, soft_wrap=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(summary=kind is None)

    # -- what is shown -------------------------------------------------------------

    def line(self) -> str:
        """The plain line for now: counts, share, elapsed and an ETA when known."""
        elapsed = self.clock() - self.started
        if self.total is None:
            count = f", {self.done} {self.unit}" if self.done else ""
            return f"{self.description} …{count} ({format_seconds(elapsed)})"
        text = f"{self.description}: {self.done}/{self.total} {self.unit}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        text += f", {format_seconds(elapsed)} elapsed"
        if 0 < self.done < self.total and elapsed > 0:
            left = (self.total - self.done) * elapsed / self.done
            text += f", about {format_seconds(left)} left"
        return text

    def summary(self) -> str:
        elapsed = format_seconds(self.clock() - self.started)
        if self.total is None and not self.done:
            return f"{self.description}: done in {elapsed}"
        return f"{self.description}: {self.done} {self.unit} in {elapsed}"

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.console.print(self.line(), highlight=False, soft_wrap=True)

    def _start_bar(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bars

        if self.total is None:
            columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        else:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
        self._bar = Bars(*columns, console=self.console, transient=True)
        self._task = self._bar.add_task(self.description, total=self.total)
        self._bar.start()
