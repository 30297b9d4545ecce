"""`yolops users add|list|passwd|role|disable`: the people who log in (the labeling
studio), with their roles, in the workspace database.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import json
import sys

import typer
from rich.table import Table

from yolops.cli.app import Typer
from yolops.cli.console import console
from yolops.cli.tracking_options import DATABASE_URL, WORKSPACE, workspace_from
from yolops.errors import ConfigError

app = Typer(
    help="People who log in, and their roles: admin, manager, reviewer, annotator, viewer "
    "(the labeling studio) and predict.",
    no_args_is_help=True,
)

_PASSWORD_STDIN = typer.Option(
    False,
    "--password-stdin",
    help="Read the password from the first line of standard input (for scripts).",
)


def _store(database_url: str | None, workspace: str | None):
    from yolops.identity import UserStore

    return UserStore(workspace_from(workspace, database_url=database_url).database_url)


def _password(from_stdin: bool, prompt: bool) -> str | None:
    """The password from stdin, or asked twice at the terminal; None when neither."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ConfigError("--password-stdin: standard input holds no password")
        return line
    if prompt:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return None


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The user's login name."),
    role: str = typer.Option(
        ..., "--role", "-r", help="admin, manager, reviewer, annotator, viewer or predict."
    ),
    password_stdin: bool = _PASSWORD_STDIN,
    no_password: bool = typer.Option(
        False, "--no-password", help="Add the user without a password (set one later)."
    ),
    database_url: str = DATABASE_URL,
    workspace: str = WORKSPACE,
) -> None:
    """Add a user; the password is asked for (stored only as an Argon2id hash)."""
    store = _store(database_url, workspace)
    user = store.add(name, role, _password(password_stdin, prompt=not no_password))
    state = "can log in" if user.has_password else "no password yet: `yolops users passwd`"
    console.print(f"Added [bold]{user.name}[/] ({user.role}); {state}.")


@app.command("list")
def list_users(
    database_url: str = DATABASE_URL,
    workspace: str = WORKSPACE,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List users (names, roles, status; never their passwords)."""
    users = _store(database_url, workspace).list()
    if as_json:
        rows = [
            {
                "name": u.name,
                "role": u.role,
                "active": u.active,
                "has_password": u.has_password,
                "created_at": u.created_at.isoformat(),
            }
            for u in users
        ]
        print(json.dumps(rows))
        return
    table = Table(title="Users", title_justify="left")
    for col in ("name", "role", "created (UTC)", "status"):
        table.add_column(col)
    for u in users:
        if not u.active:
            status = f"[red]disabled {u.disabled_at:%Y-%m-%d %H:%M}[/]"
        else:
            status = "[green]active[/]" if u.has_password else "[yellow]no password[/]"
        table.add_row(u.name, u.role, f"{u.created_at:%Y-%m-%d %H:%M}", status)
    if not users:
        table.caption = "no users yet: `yolops users add NAME --role annotator`"
    console.print(table)


@app.command("passwd")
def passwd(
    name: str = typer.Argument(...),
    password_stdin: bool = _PASSWORD_STDIN,
    database_url: str = DATABASE_URL,
    workspace: str = WORKSPACE,
) -> None:
    """Set a user's password; their open sessions end."""
    user = _store(database_url, workspace).set_password(name, _password(password_stdin, True))
    console.print(f"New password for [bold]{user.name}[/]; their sessions have ended.")


@app.command("role")
def role(
    name: str = typer.Argument(...),
    new_role: str = typer.Argument(
        ..., metavar="ROLE", help="admin, manager, reviewer, annotator, viewer or predict."
    ),
    database_url: str = DATABASE_URL,
    workspace: str = WORKSPACE,
) -> None:
    """Change a user's role."""
    user = _store(database_url, workspace).set_role(name, new_role)
    console.print(f"[bold]{user.name}[/] is now {user.role}.")


@app.command("disable")
def disable(
    name: str = typer.Argument(...),
    database_url: str = DATABASE_URL,
    workspace: str = WORKSPACE,
) -> None:
    """Disable a user: no more logins, every session ends now; their record stays."""
    user = _store(database_url, workspace).disable(name)
    console.print(f"Disabled [bold]{user.name}[/]; their sessions have ended.")
