"""`yolops ui`: the MLflow UI on 127.0.0.1 for the workspace.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import typer

from yolops.cli.console import console
from yolops.cli.tracking_options import WORKSPACE


def ui(
    port: int = typer.Option(5000, "--port", "-p"),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to bind (127.0.0.1: this machine only)."
    ),
    workspace: str = WORKSPACE,
) -> None:
    """Start the MLflow UI on the workspace's embedded store (Ctrl-C stops it)."""
    from yolops.track.ui import run_ui
    from yolops.workspace import Workspace

    ws = Workspace.resolve(workspace, tracking_uri=None)
    console.print(
        f"MLflow UI for {ws.describe()} at [bold]http://{host}:{port}[/] (Ctrl-C stops it)"
    )
    raise typer.Exit(run_ui(ws, host=host, port=port))
