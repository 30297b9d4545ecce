"""`yolops models`: register, list, show and promote registered models.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.app import Typer
from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE, workspace_from

app = Typer(
    help="The model registry: versions, aliases (production, staging, ...), lineage.",
    no_args_is_help=True,
)


@app.command()
def register(
    run_id: str = typer.Argument(..., help="The MLflow run of a finished, tracked training."),
    name: str = typer.Option(..., "--name", "-n", help="Registered model name (created when new)."),
    description: str = typer.Option("", "--description"),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Register the model a training run logged as a new version of NAME, with the
    reference statistics (from its training and validation data) that monitoring uses."""
    from yolops.errors import YolopsError
    from yolops.track.registry import register_model

    ws = workspace_from(workspace, tracking_uri)
    mv = register_model(ws, run_id, name, description, reference=False)
    console.print(
        f"[green]Registered[/] [bold]{mv.name}/{mv.version}[/] from run {run_id}; promote it with "
        f"`yolops models promote {mv.name} {mv.version} --alias production`"
    )
    try:
        _attach(ws, f"{mv.name}/{mv.version}", None)
    except YolopsError as e:
        err_console.print(
            f"[yellow]warning:[/] no reference statistics for monitoring: {escape(str(e))}",
            soft_wrap=True,
        )


@app.command()
def reference(
    ref: str = typer.Argument(..., help="NAME/VERSION or NAME@ALIAS."),
    data: str = typer.Option(
        None,
        "--data",
        "-d",
        help="Dataset to build them from [default: the one its run trained on].",
    ),
    max_images: int = typer.Option(1000, "--max-images", help="Most images per split used.", min=1),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """(Re)build the reference statistics `yolops monitor` compares live traffic with."""
    _attach(workspace_from(workspace, tracking_uri), ref, data, max_images)


def _attach(ws, ref: str, data: str | None, max_images: int = 1000) -> None:
    from rich.progress import Progress

    from yolops.track.reference import attach_reference, load_reference

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("reference statistics", total=None)
        uri = attach_reference(
            ws,
            ref,
            data,
            max_images,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    r = load_reference(ws, ref)
    boxes = sum(len(d) for d in r.detections_at(0.25))
    console.print(
        f"[green]Reference statistics[/] of {r.model_name}/{r.model_version}: "
        f"{r.num_images} images' inputs, predictions on {len(r.detections)} validation images "
        f"({boxes} boxes at conf 0.25) from {r.dataset} -> {uri}"
    )


@app.command("list")
def list_(workspace: str = WORKSPACE, tracking_uri: str = TRACKING_URI) -> None:
    """The registered models, their latest version and aliases."""
    from yolops.track.registry import list_models

    ws = workspace_from(workspace, tracking_uri)
    rows = list_models(ws)
    table = Table(title=f"Registered models ({ws.describe()})", title_justify="left")
    for col in ("name", "versions", "latest", "aliases", "updated"):
        table.add_column(col, justify="right" if col in ("versions", "latest") else "left")
    for r in rows:
        aliases = ", ".join(f"{a} -> {v}" for a, v in sorted(r["aliases"].items()))
        table.add_row(
            r["name"], str(r["versions"]), str(r["latest"] or "-"), aliases or "-", r["updated"]
        )
    if not rows:
        table.caption = "none yet: `yolops models register RUN_ID --name NAME`"
    console.print(table)


@app.command()
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME/VERSION."),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """One model version: aliases, who registered it and when, metrics, dataset lineage."""
    from yolops.track.registry import describe

    ws = workspace_from(workspace, tracking_uri)
    d = describe(ws, ref)
    table = Table(
        title=f"{d['name']} version {d['version']}", title_justify="left", show_header=False
    )
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [
        ("aliases", ", ".join(d["aliases"]) or "-"),
        ("run", d["run_id"] or "-"),
        ("model id", d["model_id"] or "-"),
        ("registered", f"{d['registered_by']} {d['registered_at']}"),
        ("trained", f"{d['trained_by']} {d['trained_at']}"),
        ("source", d["source"]),
        ("trained on", _trained_on(ws, d["lineage"])),
        ("reference statistics", d["reference"] or "none (`yolops models reference` builds them)"),
    ]
    rows += [
        (f"promoted {k.removeprefix('promoted.')}", v) for k, v in sorted(d["promotions"].items())
    ]
    rows += [(k, f"{v:.4f}") for k, v in d["metrics"].items() if "/ap" not in k]
    rows += list(d["lineage"].items())
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)


def _trained_on(ws, lineage: dict[str, str]) -> str:
    """``bccd@v2 (digest) <- bccd@v1 (commit)``: the dataset version a model learned
    from and the versions before it, each with what produced it; else the dataset's
    name and content hash."""
    from yolops.data.versions import lineage as version_lineage
    from yolops.errors import YolopsError

    ref = lineage.get("dataset.version", "")
    if not ref:
        name, digest = lineage.get("dataset.name", ""), lineage.get("dataset.hash", "")
        return f"{name} ({digest}), not a dataset version" if name else "-"
    try:
        chain = version_lineage(ws, ref)
    except YolopsError as e:
        return f"{ref} ({e})"
    steps = [f"{v.ref} ({v.produced_by.get('kind', '?')}: {v.message})" for v in chain]
    return f"{chain[0].ref} ({chain[0].digest[:12]}); lineage: " + " <- ".join(steps)


@app.command()
def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="The version to promote."),
    alias: str = typer.Option("production", "--alias", "-a", help="The alias to point at VERSION."),
    force: bool = typer.Option(
        False, "--force", help="Promote even when its val mAP50-95 is lower."
    ),
    prelabel: bool = typer.Option(
        True,
        "--prelabel/--no-prelabel",
        help="Pre-label again the labeling projects that follow NAME@ALIAS (their tasks "
        "nobody has started) with the new version.",
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Point NAME@ALIAS at VERSION; refused when its val mAP50-95 is below the current holder's.
    Labeling projects that follow NAME@ALIAS are pre-labeled again with it."""
    from yolops.track.registry import promote as run_promote

    ws = workspace_from(workspace, tracking_uri)
    p = run_promote(ws, name, version, alias, force)
    before = f" (was version {p.previous})" if p.previous and p.previous != p.version else ""
    console.print(
        f"[green]{p.name}@{p.alias}[/] -> version [bold]{p.version}[/]{before}: {p.reason}"
    )
    if prelabel and p.previous != p.version:
        _prelabel_followers(ws, f"{p.name}@{p.alias}")


def _prelabel_followers(ws, model: str) -> None:
    """Labeling projects pre-labeled by ``model`` get the new version's proposals on
    every task nobody has started."""
    from yolops.cli.label import cli_actor
    from yolops.label.prelabel import following, refresh
    from yolops.label.store import LabelStore

    store = LabelStore(ws)
    for project in following(store, model):
        with console.status(f"pre-labeling project {project.name} with {model} …"):
            result = refresh(store, cli_actor(), project)
        if result is not None:
            console.print(f"labeling project {escape(project.name)}: {escape(result.describe())}")
