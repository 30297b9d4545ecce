"""`yolops label ...`: the labeling studio from the terminal: projects, tasks from any
source, pre-labels, progress, export as a dataset version, and the web server.

Commands here act as the person at the terminal (``cli:<os user>``) with the admin
role: whoever can write the workspace's database can do anything to it anyway.
People labeling in the browser log in as the users of `yolops users`.

The library is imported inside each command, deliberately (start-up time)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.app import Typer
from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import DATABASE_URL, TRACKING_URI, WORKSPACE, workspace_from

app = Typer(
    help="AI-assisted labeling with review in stages: projects, tasks, pre-labels, export.",
    no_args_is_help=True,
)


def cli_actor():
    from yolops.identity import Actor

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(f"cli:{user}", "admin")


def _store(workspace, database_url, tracking_uri=None):
    from yolops.label.store import LabelStore

    return LabelStore(workspace_from(workspace, tracking_uri, database_url))


@contextmanager
def _bar(what: str) -> Iterator:
    """A ``progress(done, total)`` callback drawing the shared progress display."""
    from yolops.progress import Progress

    with Progress(err_console, what, unit="images") as shown:
        yield lambda done, _total: shown.advance(done - shown.done)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Project name."),
    classes: str = typer.Option(None, "--classes", help="Class names, comma-separated."),
    data: str = typer.Option(
        None,
        "--data",
        "-d",
        help="Start with the images (and labels) of a dataset: a version (bccd@v1) or any "
        "folder or file yolops reads; its classes are used when --classes is not given.",
    ),
    stages: str = typer.Option(
        "annotate,review",
        "--stages",
        help="Ordered stages, comma-separated: the first is annotation, each later one a "
        "review [default: annotate,review].",
    ),
    overlap: int = typer.Option(
        1, "--overlap", help="Annotators per task; their boxes are merged [default: 1]."
    ),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Model that pre-labels: NAME@ALIAS (re-pre-label when it moves), NAME/VERSION, "
        "runs:/RUN_ID or a .pt/.onnx file.",
    ),
    proposal_conf: float = typer.Option(
        0.25, "--proposal-conf", help="Show proposals at or above this score [default: 0.25]."
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
    database_url: str = DATABASE_URL,
) -> None:
    """Create a labeling project (and its tasks, with --data; pre-labeled, with --model)."""
    from yolops.data.dataset import load_dataset
    from yolops.errors import ConfigError
    from yolops.label.projects import create_project

    store = _store(workspace, database_url, tracking_uri)
    if classes:
        names = _split(classes)
    elif data:
        names = list(load_dataset(data, workspace=store.workspace).class_names)
    else:
        raise ConfigError("give the classes (--classes a,b,c) or a dataset to take them from")
    actor = cli_actor()
    project = create_project(
        store, actor, name, names, _split(stages), overlap, model, proposal_conf, data
    )
    console.print(
        f"[green]Created[/] project [bold]{escape(name)}[/]: classes "
        f"{escape(', '.join(project.classes))}; stages {' -> '.join(project.stages)}"
        + (f"; {overlap} annotators per task" if overlap > 1 else "")
    )
    if data:
        _add(store, actor, project, data, None)


def _add(store, actor, project, source: str, fmt: str | None) -> None:
    from yolops.label.importing import add_tasks
    from yolops.label.prelabel import prelabel

    with _bar(f"adding {source}") as progress:
        result = add_tasks(store, actor, project, source, fmt, progress=progress)
    console.print(escape(result.describe()))
    if project.model and result.task_ids:
        with _bar("pre-labeling") as progress:
            found = prelabel(store, actor, project, task_ids=result.task_ids, progress=progress)
        console.print(escape(found.describe()))


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Project name."),
    source: str = typer.Argument(
        ...,
        help="A folder of images, a dataset yolops reads (YOLO, COCO, VOC, Label Studio JSON, "
        "CVAT XML: with their labels), a dataset version, or the monitor's export batch.",
    ),
    fmt: str = typer.Option(None, "--format", "-f", help="The source's format, if not detected."),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
    database_url: str = DATABASE_URL,
) -> None:
    """Add tasks (one per image) to a project; pre-labeled when it has a model."""
    from yolops.label.projects import get_project

    store = _store(workspace, database_url, tracking_uri)
    _add(store, cli_actor(), get_project(store, name), source, fmt)


@app.command("prelabel")
def prelabel_cmd(
    name: str = typer.Argument(..., help="Project name."),
    model: str = typer.Option(
        None, "--model", "-m", help="Another model than the project's (it becomes the project's)."
    ),
    if_new: bool = typer.Option(
        False,
        "--if-new",
        help="Only when the project's model now names another version (a promotion).",
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
    database_url: str = DATABASE_URL,
) -> None:
    """Pre-label every task nobody has started (with the project's model, or --model)."""
    from yolops.label.prelabel import prelabel, refresh
    from yolops.label.projects import get_project

    store = _store(workspace, database_url, tracking_uri)
    project, actor = get_project(store, name), cli_actor()
    with _bar("pre-labeling") as progress:
        if if_new and not model:
            result = refresh(store, actor, project, progress=progress)
        else:
            result = prelabel(store, actor, project, model=model, progress=progress)
    if result is None:
        console.print(f"{project.model} is still {project.model_version}: nothing to do.")
    else:
        console.print(escape(result.describe()))


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Every labeling project, with its progress."""
    from yolops.label.progress import status
    from yolops.label.projects import list_projects

    store = _store(workspace, database_url)
    found = [status(store, p) for p in list_projects(store)]
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No labeling projects yet (`yolops label create`).")
        return
    table = Table(title="Labeling projects")
    for column in ("project", "classes", "stages", "tasks", "in stages", "done", "unreadable"):
        table.add_column(column, overflow="fold")
    for s in found:
        in_stages = ", ".join(f"{k} {v}" for k, v in s["by_stage"].items())
        table.add_row(
            escape(s["name"]),
            escape(", ".join(s["classes"])),
            " -> ".join(s["stages"]),
            str(s["tasks"]),
            in_stages,
            str(s["done"]),
            str(s["unreadable"]),
        )
    console.print(table)


@app.command("status")
def status_cmd(
    name: str = typer.Argument(..., help="Project name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """A project's progress per stage and per person."""
    from yolops.label.progress import status
    from yolops.label.projects import get_project

    store = _store(workspace, database_url)
    s = status(store, get_project(store, name))
    if as_json:
        print(json.dumps(s, indent=2))
        return
    stages = Table(title=f"{escape(name)}: {s['tasks']} tasks")
    stages.add_column("stage")
    stages.add_column("tasks", justify="right")
    for stage, n in s["by_stage"].items():
        stages.add_row(stage, str(n))
    stages.add_row("[green]done[/]", str(s["done"]))
    if s["unreadable"]:
        stages.add_row("[red]unreadable[/]", str(s["unreadable"]))
    console.print(stages)
    if not s["people"]:
        console.print("Nobody has worked on it yet.")
        return
    people = Table(title="people")
    columns = (
        ("user", "user"),
        ("submitted", "submitted"),
        ("tasks/hour", "tasks_per_hour"),
        ("sent back", "rejection_rate"),
        ("proposals kept", "proposals_accepted"),
        ("agreement", "agreement"),
        ("approved", "approved"),
        ("rejected", "rejected"),
    )
    for title, _ in columns:
        people.add_column(title, justify="left" if title == "user" else "right")
    for p in s["people"]:
        people.add_row(*(_cell(p[key], key) for _, key in columns))
    console.print(people)


def _cell(value, key: str) -> str:
    if value is None:
        return "-"
    if key in ("rejection_rate", "proposals_accepted", "agreement"):
        return f"{value:.0%}"
    return escape(str(value))


@app.command("export")
def export_cmd(
    name: str = typer.Argument(..., help="Project name."),
    to: str = typer.Option(..., "--to", help="Dataset to commit the approved labels to."),
    message: str = typer.Option(None, "--message", "-m", help="What this version holds."),
    split: str = typer.Option(
        "train",
        "--split",
        help="Split for images new to the dataset that came with none [default: train].",
    ),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Commit the approved tasks as the next version of a dataset, with lineage."""
    from yolops.label.export import export
    from yolops.label.projects import get_project

    store = _store(workspace, database_url)
    with console.status("committing …", spinner="dots"):
        result = export(store, cli_actor(), get_project(store, name), to, message, split)
    console.print(f"[green]Exported[/] {escape(result.describe())}")


@app.command("history")
def history_cmd(
    task_id: int = typer.Argument(..., help="Task id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Every change to a task: who, when, what, boxes before and after."""
    from yolops.label.history import task_events

    found = task_events(_store(workspace, database_url), task_id)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    if not found:
        console.print(f"No task {task_id} (or no history).")
        return
    table = Table(title=f"task {task_id}")
    for column in ("when", "who", "action", "stage", "boxes", "comment"):
        table.add_column(column, overflow="fold")
    for e in found:
        stage = "" if e["stage_from"] is None else f"{e['stage_from']} -> {e['stage_to']}"
        boxes = "" if e["boxes_after"] is None else str(len(e["boxes_after"]))
        comment = (e["comment"] or {}).get("text", "")
        table.add_row(e["at"][:19], escape(e["user"]), e["action"], stage, boxes, escape(comment))
    console.print(table)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", "-p", help="Port (0 picks a free one)."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Serve the labeling studio (the browser UI and its API) until Ctrl-C."""
    from yolops.identity import UserStore
    from yolops.label.web.server import run_label_server

    ws = workspace_from(workspace, None, database_url)
    if not UserStore(ws.database_url).list():
        console.print(
            "[yellow]No users yet[/]: add some first, e.g. "
            "`yolops users add alice --role annotator`."
        )
    console.print(f"Labeling studio on http://{host}:{port} ({ws.root})")
    run_label_server(ws, host, port)
