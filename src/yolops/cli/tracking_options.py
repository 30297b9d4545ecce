"""The options every tracking-aware command shares: where the workspace is, and
which tracking server (if any) to use instead of its embedded store.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others.
"""

from __future__ import annotations

import typer

WORKSPACE = typer.Option(
    None,
    "--workspace",
    "-w",
    envvar="YOLOPS_HOME",
    help="Workspace folder (default ./yolops-workspace).",
)
TRACKING_URI = typer.Option(
    None,
    "--tracking-uri",
    envvar="MLFLOW_TRACKING_URI",
    help="An MLflow tracking server to use instead of the workspace's embedded store.",
)


def workspace_from(workspace: str | None, tracking_uri: str | None):
    from yolops.workspace import Workspace

    return Workspace.resolve(workspace, tracking_uri)
