"""The options commands share: where the workspace is, which tracking server (if any)
to use instead of its embedded store, and which database instead of its SQLite file."""

from __future__ import annotations

import typer

from yolops.workspace import Workspace

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

DATABASE_URL = typer.Option(
    None,
    "--database-url",
    envvar="YOLOPS_DATABASE_URL",
    help="SQLAlchemy URL of the workspace database [default: SQLite in the workspace].",
)


def workspace_from(
    workspace: str | None, tracking_uri: str | None = None, database_url: str | None = None
) -> Workspace:
    return Workspace.resolve(workspace, tracking_uri, database_url)
