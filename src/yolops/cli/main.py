"""The `yolops` command: a thin layer over the Python API.

Errors raised on purpose (YolopsError) are printed as one clear message and exit 1;
anything else is reported as an internal error. `--debug` shows the traceback.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others.
"""

from __future__ import annotations

import sys

import typer

from yolops._version import __version__
from yolops.cli import data as data_cli
from yolops.cli import keys as keys_cli
from yolops.cli import label as label_cli
from yolops.cli import models as models_cli
from yolops.cli import monitor as monitor_cli
from yolops.cli import predict as predict_cli
from yolops.cli import runs as runs_cli
from yolops.cli import serve as serve_cli
from yolops.cli import sweep as sweep_cli
from yolops.cli import train as train_cli
from yolops.cli import ui as ui_cli
from yolops.cli import users as users_cli
from yolops.cli.app import Typer
from yolops.cli.console import err_console
from yolops.errors import YolopsError

app = Typer(
    name="yolops",
    help="From raw images to a monitored real-time object detector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cli.app, name="data")
app.command("train")(train_cli.train)
app.command("val")(train_cli.val)
app.command("predict")(predict_cli.predict)
app.command("export")(predict_cli.export)
app.add_typer(models_cli.app, name="models")
app.add_typer(runs_cli.app, name="runs")
app.command("sweep")(sweep_cli.sweep)
app.command("ui")(ui_cli.ui)
app.command("serve")(serve_cli.serve)
app.command("monitor")(monitor_cli.monitor)
app.add_typer(keys_cli.app, name="keys")
app.add_typer(users_cli.app, name="users")
app.add_typer(label_cli.app, name="label")


def _version(value: bool) -> None:
    if value:
        print(f"yolops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """yolops: data, quality, a YOLO we own, tracking and serving in one tool."""


@app.command()
def demo(
    workspace: str = typer.Option(
        "yolops-workspace",
        "--workspace",
        "-w",
        envvar="YOLOPS_HOME",
        help="Folder the demo writes into.",
    ),
    fast: bool = typer.Option(False, "--fast", help="A smaller, quicker run (used by the tests)."),
) -> None:
    """Run the whole loop on generated data: generate, load, describe, train, evaluate, predict."""
    from pathlib import Path

    from yolops.pipeline.demo import run_demo

    run_demo(Path(workspace), fast=fast)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    _show_our_warnings()
    try:
        app(args=argv, prog_name="yolops", standalone_mode=True)
    except YolopsError as e:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {_escape(str(e))}", soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except Exception as e:  # a bug of ours: say so plainly, never a raw traceback
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(e).__name__}: {_escape(str(e))}\n"
            "Run again with --debug for the traceback, and please report it.",
            soft_wrap=True,
        )
        sys.exit(2)


def _show_our_warnings() -> None:
    """Warnings of ours (a model registered without reference statistics, ...) are
    printed as one yellow line, not with Python's file and line number."""
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("yolops"):
            err_console.print(f"[yellow]warning:[/] {_escape(str(message))}", soft_wrap=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":
    main()
