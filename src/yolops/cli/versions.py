"""`yolops data commit | log | diff | tag | checkout | lineage`: dataset versions.

Registered on the `yolops data` group (see :mod:`yolops.cli.data`). Like every command
module, the library is imported inside each command, deliberately (start-up time)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import DATABASE_URL, TRACKING_URI, WORKSPACE, workspace_from

REF_HELP = "A dataset version: NAME@vN, NAME@TAG or NAME (the latest)."


def commit(
    src: Path = typer.Argument(..., help="A dataset: YOLO data YAML, COCO JSON, VOC folder..."),
    name: str = typer.Option(..., "--name", "-n", help="The dataset's name (NAME@vN)."),
    message: str = typer.Option(..., "--message", "-m", help="What changed, and why."),
    fmt: str | None = typer.Option(None, "--format", help="Source format (detected when omitted)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse a dataset with load problems."),
    author: str | None = typer.Option(None, "--author", help="Who commits [default: you]."),
    produced_by: str = typer.Option(
        "commit",
        "--produced-by",
        help="What made this data, for the lineage: commit, labeling, cleaning, production...",
    ),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Record a dataset as the next version of NAME: its image bytes (stored once),
    boxes, classes and splits. Nothing is written when nothing changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from yolops.data.dataset import load_dataset
    from yolops.data.versions import commit as commit_version
    from yolops.issues import print_issues

    ws = workspace_from(workspace, None, database_url)
    with console.status(f"Loading {src} …", spinner="dots"):
        ds = load_dataset(src, format=fmt, strict=strict, workspace=ws)
    print_issues(ds.issues, console, title=f"Load report for {src}")
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("hashing and storing images", total=len(ds))
        result = commit_version(
            ds,
            name,
            message,
            workspace=ws,
            author=author,
            produced_by={"kind": produced_by, "source": str(Path(src).absolute())},
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    v = result.version
    if not result.created:
        console.print(f"[yellow]Unchanged[/]: {src} is {v.ref} exactly; no new version.")
        return
    stored = result.stored
    console.print(
        f"[green]Committed[/] [bold]{v.ref}[/] ({v.digest[:12]}): {v.num_images} images, "
        f"{v.num_boxes} boxes, {len(v.class_names)} classes; "
        f"{stored.images} new image files ({stored.bytes / 1e6:.1f} MB) stored, "
        f"{result.new_entries} new or changed images"
    )
    if ds.issues.at_least("error"):
        err_console.print(
            f"[yellow]{len(ds.issues.at_least('error'))} record(s) were set aside while "
            "loading and are not in this version[/] (the load report above lists them)"
        )


def log(
    name: str | None = typer.Argument(None, help="A dataset name [default: list every dataset]."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """The versions of a dataset, newest first: who, when, why, counts, tags."""
    from yolops.data.versions import list_datasets, list_versions

    ws = workspace_from(workspace, None, database_url)
    found = list_versions(ws, name)[::-1] if name else list_datasets(ws)
    if as_json:
        print(json.dumps([_version_dict(v) for v in found], indent=2))
        return
    if not found:
        console.print(f"No dataset versions in {ws.root} yet: `yolops data commit`.")
        return
    title = f"{name}: {len(found)} version(s)" if name else "Datasets (latest versions)"
    table = Table(title=title)
    for col in ("version", "tags", "when", "who", "images", "boxes", "splits", "message"):
        table.add_column(col, justify="right" if col in ("images", "boxes") else "left")
    for v in found:
        table.add_row(
            v.ref if not name else f"v{v.number}",
            ", ".join(v.tags),
            v.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            escape(v.author),
            str(v.num_images),
            str(v.num_boxes),
            " ".join(f"{k} {n}" for k, n in v.splits.items()),
            escape(v.message),
        )
    console.print(table)


def _version_dict(v) -> dict:
    return {
        "ref": v.ref,
        "dataset": v.dataset,
        "version": v.number,
        "digest": v.digest,
        "parent": f"{v.dataset}@v{v.parent}" if v.parent else None,
        "tags": list(v.tags),
        "created_at": v.created_at.isoformat(),
        "author": v.author,
        "message": v.message,
        "images": v.num_images,
        "boxes": v.num_boxes,
        "classes": list(v.class_names),
        "splits": v.splits,
        "produced_by": v.produced_by,
    }


def diff(
    before: str = typer.Argument(..., help="A version reference or a dataset path."),
    after: str = typer.Argument(..., help="A version reference or a dataset path."),
    html: Path | None = typer.Option(
        None, "--html", help="Write a page with before/after pictures."
    ),
    limit: int = typer.Option(
        200, "--limit", min=0, help="Most changed images in --html / listed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """What changed between two datasets: images added, removed and changed (pixels,
    split, boxes added, removed, moved, relabelled), and boxes per class."""
    from yolops.data.dataset import load_dataset
    from yolops.data.diff import diff_datasets
    from yolops.data.diff_html import write_diff_html

    ws = workspace_from(workspace, None, database_url)
    with console.status(f"Comparing {before} and {after} …", spinner="dots"):
        d = diff_datasets(
            load_dataset(before, workspace=ws),
            load_dataset(after, workspace=ws),
            before_name=before,
            after_name=after,
        )
    if as_json:
        print(json.dumps(d.to_dict(), indent=2))
    else:
        _print_diff(d, limit)
    if html is not None:
        written = write_diff_html(d, html, limit)
        (err_console if as_json else console).print(f"diff page -> [bold]{written}[/]")


def _print_diff(d, limit: int) -> None:
    if d.empty:
        console.print(f"{d.before} and {d.after} hold the same images and boxes.")
        return
    boxes = d.box_totals()
    summary = Table(title=f"{d.before} -> {d.after}", show_header=False)
    for label, value in (
        ("images added", len(d.added)),
        ("images removed", len(d.removed)),
        ("images changed", len(d.changed)),
        ("images unchanged", d.unchanged),
        *((f"boxes {k}", v) for k, v in boxes.items()),
    ):
        summary.add_row(label, str(value))
    console.print(summary)
    classes = Table(title="Boxes per class")
    for col in ("class", "before", "after", "change"):
        classes.add_column(col, justify="left" if col == "class" else "right")
    for c in d.classes:
        style = "green" if c.change > 0 else "red" if c.change < 0 else ""
        classes.add_row(
            escape(c.name),
            str(c.before),
            str(c.after),
            f"[{style}]{c.change:+d}[/]" if style else "0",
        )
    console.print(classes)
    changes = d.changes
    if changes and limit:
        images = Table(title=f"Images ({min(limit, len(changes))} of {len(changes)})")
        images.add_column("image")
        images.add_column("change")
        for c in changes[:limit]:
            images.add_row(escape(c.image_id), escape(c.describe()))
        console.print(images)


def tag(
    ref: str = typer.Argument(..., help=REF_HELP),
    name: str = typer.Argument(..., help="The tag (then NAME@TAG names that version)."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Tag a version (`approved`, `production`...); a tag that exists moves."""
    from yolops.data.versions import resolve
    from yolops.data.versions import tag as tag_version

    ws = workspace_from(workspace, None, database_url)
    before = tag_version(ws, ref, name)
    v = resolve(ws, ref)
    moved = f" (moved from v{before.number})" if before is not None and before.id != v.id else ""
    console.print(f"[green]Tagged[/] {v.ref} as [bold]{v.dataset}@{name}[/]{moved}")


def checkout(
    ref: str = typer.Argument(..., help=REF_HELP),
    out: Path = typer.Argument(..., help="An empty folder to write the dataset into."),
    to: str = typer.Option("yolo", "--format", "--to", help="Format to write."),
    workspace: str = WORKSPACE,
    database_url: str = DATABASE_URL,
) -> None:
    """Write a version out as files (images and annotations) in any format."""
    from yolops.data.dataset import Dataset, save_dataset
    from yolops.data.versions import load_version

    ws = workspace_from(workspace, None, database_url)
    with console.status(f"Writing {ref} to {out} …", spinner="dots"):
        ds = Dataset.from_parts(load_version(ws, ref))
        written = save_dataset(ds, out, to)
    console.print(
        f"[green]Checked out[/] {ds.version.ref} ({len(ds)} images, {ds.num_boxes} boxes) "
        f"as {to} to [bold]{written}[/]"
    )


def lineage(
    ref: str = typer.Argument(..., help=REF_HELP),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
    database_url: str = DATABASE_URL,
) -> None:
    """Where a version came from (its ancestors and what produced each) and which
    trainings and registered models used it."""
    from yolops.data.versions import lineage as version_lineage
    from yolops.track.lineage import runs_on_version

    ws = workspace_from(workspace, tracking_uri, database_url)
    chain = version_lineage(ws, ref)
    table = Table(title=f"{chain[0].ref}: where it came from")
    for col in ("version", "when", "who", "produced by", "message"):
        table.add_column(col)
    for v in chain:
        table.add_row(
            v.ref,
            v.created_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            escape(v.author),
            escape(_produced(v.produced_by)),
            escape(v.message),
        )
    console.print(table)
    runs = runs_on_version(ws, chain[0])
    if not runs:
        console.print(f"No training or evaluation in {ws.describe()} used {chain[0].ref} yet.")
        return
    used = Table(title=f"Runs that used {chain[0].ref}")
    for col in ("run", "kind", "when", "models"):
        used.add_column(col)
    for r in runs:
        used.add_row(r.run_id, r.kind, r.started, ", ".join(r.models) or "-")
    console.print(used)


def _produced(produced_by: dict) -> str:
    kind = produced_by.get("kind", "?")
    details = ", ".join(f"{k} {v}" for k, v in produced_by.items() if k != "kind")
    return f"{kind}: {details}" if details else kind
