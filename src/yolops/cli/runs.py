"""`yolops runs`: list, compare, report and sync tracked runs.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.app import Typer
from yolops.cli.console import console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE, workspace_from

app = Typer(help="Tracked runs: list, compare, report, sync.", no_args_is_help=True)

EXPERIMENT = typer.Option("yolops", "--experiment", "-e", help="MLflow experiment.")


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


@app.command("list")
def list_(
    experiment: str = typer.Option(
        None, "--experiment", "-e", help="Only this MLflow experiment [default: all of them]."
    ),
    kind: str = typer.Option(None, "--kind", help="Only train, val, sweep or trial runs."),
    limit: int = typer.Option(30, "--limit"),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """The newest runs first, with their dataset and key metrics."""
    from yolops.track.runs import list_runs

    ws = workspace_from(workspace, tracking_uri)
    runs = list_runs(ws, experiment, kind, limit)
    which = f"of {experiment!r}" if experiment else "of every experiment"
    if not runs:
        console.print(f"No runs {which} in {ws.describe()} yet: `yolops train` tracks one.")
        return
    console.print(runs_table(runs, f"Runs {which} ({ws.describe()})", console))


def runs_table(runs, title: str, terminal) -> Table:
    """One row per run with every column when that fits ``terminal`` (a Console); else (an 80-column
    terminal) fewer, taller columns, so that the run id is always shown whole, to copy."""
    caption = (
        "mAP50-95: of a training's best weights on val; of an evaluation on its split. "
        "Times in UTC."
    )
    wide = Table(title=title, title_justify="left", caption=caption)
    wide.add_column("run id", no_wrap=True)  # whole, to copy
    for col in ("name", "experiment", "kind", "status", "started (UTC)", "dataset"):
        wide.add_column(col)
    wide.add_column("mAP50-95", justify="right")
    for r in runs:
        wide.add_row(
            r.run_id,
            escape(r.name),
            escape(r.experiment),
            r.kind,
            r.status.lower(),
            r.started,
            escape(r.dataset),
            _headline(r, " "),
        )
    natural = terminal.measure(wide, options=terminal.options.update_width(100_000)).maximum
    if natural <= terminal.width:
        return wide
    tall = Table(title=title, title_justify="left", caption=caption, show_lines=True)
    tall.add_column("run id / name · experiment / dataset", min_width=32, overflow="fold")
    tall.add_column("kind")
    tall.add_column("started", max_width=11)  # date, then time (UTC)
    tall.add_column("mAP50-95", justify="right")
    for r in runs:
        about = " · ".join(x for x in (r.name, r.experiment) if x)
        tall.add_row(
            "\n".join(x for x in (f"[bold]{r.run_id}[/]", escape(about), escape(r.dataset)) if x),
            f"{r.kind}\n{r.status.lower()}",
            r.started,
            _headline(r, "\n"),
        )
    return tall


def _headline(run, sep: str) -> str:
    headline = run.headline_map()
    return f"{headline[1]:.4f}{sep}({headline[0]})" if headline else "-"


@app.command()
def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more run ids."),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """The params that differ between runs, and their key metrics."""
    from yolops.track.runs import compare_runs

    c = compare_runs(workspace_from(workspace, tracking_uri), run_ids)
    table = Table(title="Comparison", title_justify="left")
    table.add_column("")
    for r in c.runs:
        table.add_column(f"{r.name}\n{r.run_id[:8]}", justify="right")
    for key, values in c.params.items():
        table.add_row(key, *values)
    if c.params and c.metrics:
        table.add_section()
    for key, values in c.metrics.items():
        best = max((v for v in values if v is not None), default=None)
        higher_better = "loss" not in key and key not in ("seconds",)
        table.add_row(
            key,
            *[
                f"[bold green]{_fmt(v)}[/]"
                if v is not None and v == best and higher_better and len(values) > 1
                else _fmt(v)
                for v in values
            ],
        )
    table.caption = f"{c.same_params} params are the same in every run" + (
        "" if c.params else "; none differ"
    )
    console.print(table)


@app.command()
def report(
    run_id: str = typer.Argument(...),
    out: Path = typer.Option(
        None, "--out", "-o", help="HTML file (default <workspace>/reports/RUN_ID.html)."
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    # One line: Typer's list of commands keeps the line breaks of a help text.
    """Write one self-contained HTML report of a run (config, curves, PR curves, confusion matrix, predictions)."""  # noqa: E501
    from yolops.track.report import write_report

    with console.status("Writing the report …"):
        path = write_report(workspace_from(workspace, tracking_uri), run_id, out)
    console.print(f"[green]Wrote[/] [bold]{path}[/]")


@app.command()
def sync(
    run_dir: Path = typer.Argument(..., help="A finished training's run folder."),
    experiment: str = EXPERIMENT,
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    # One line: Typer's list of commands keeps the line breaks of a help text.
    """Log a finished run folder (an untracked training, or one whose server went away) as a new run."""  # noqa: E501
    from yolops.track.tracking import log_run_folder

    with console.status(f"Logging {run_dir} …"):
        run_id = log_run_folder(
            workspace_from(workspace, tracking_uri), run_dir, experiment, console=console
        )
    console.print(f"[green]Logged[/] {run_dir} as run [bold]{run_id}[/]")
