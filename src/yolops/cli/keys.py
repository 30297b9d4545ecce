"""`yolops keys create|list|revoke`: API keys of the inference server.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from yolops.cli.app import Typer
from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import DATABASE_URL as _DB
from yolops.cli.tracking_options import WORKSPACE as _WS
from yolops.cli.tracking_options import workspace_from

app = Typer(
    help="API keys of `yolops serve` (stored hashed in the workspace database).",
    no_args_is_help=True,
)


def _store(database_url: str | None, workspace: str | None):
    from yolops.identity import KeyStore

    return KeyStore(workspace_from(workspace, database_url=database_url).database_url)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who or what uses the key (e.g. 'mobile-app')."),
    role: str = typer.Option(
        "predict", "--role", "-r", help="admin, predict, annotator or reviewer."
    ),
    database_url: str = _DB,
    workspace: str = _WS,
    as_json: bool = typer.Option(False, "--json", help="Print the key and its record as JSON."),
) -> None:
    """Create a key; it is printed this once and stored only as a hash."""
    key, info = _store(database_url, workspace).create(name, role)
    if as_json:
        print(json.dumps({"key": key, "id": info.id, "name": info.name, "role": info.role}))
        return
    console.print(f"Created key [bold]{info.id}[/] ({info.role}) for {info.name!r}:")
    print(key)
    err_console.print("[yellow]Store it now: it cannot be shown again.[/]")


@app.command("list")
def list_keys(
    database_url: str = _DB,
    workspace: str = _WS,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List keys (ids, names, roles, status; never the keys themselves)."""
    infos = _store(database_url, workspace).list()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": i.id,
                        "name": i.name,
                        "role": i.role,
                        "created_at": i.created_at.isoformat(),
                        "revoked_at": i.revoked_at.isoformat() if i.revoked_at else None,
                    }
                    for i in infos
                ]
            )
        )
        return
    table = Table(title="API keys", title_justify="left")
    for col in ("id", "name", "role", "created (UTC)", "status"):
        table.add_column(col)
    for i in infos:
        status = (
            "[green]active[/]" if i.active else f"[red]revoked {i.revoked_at:%Y-%m-%d %H:%M}[/]"
        )
        table.add_row(i.id, i.name, i.role, f"{i.created_at:%Y-%m-%d %H:%M}", status)
    if not infos:
        table.caption = "no keys yet: `yolops keys create NAME`"
    console.print(table)


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (as `yolops keys list` shows it)."),
    database_url: str = _DB,
    workspace: str = _WS,
) -> None:
    """Revoke a key: the server refuses it from its next request on."""
    info = _store(database_url, workspace).revoke(key_id)
    console.print(f"Revoked key [bold]{info.id}[/] ({info.role}, {info.name!r}).")
