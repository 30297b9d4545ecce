"""`yolops data …`: convert, describe and validate datasets.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from yolops.cli import quality as quality_cli
from yolops.cli import versions as versions_cli
from yolops.cli.app import Typer
from yolops.cli.console import console, err_console
from yolops.data.dataset import load_dataset, save_dataset
from yolops.issues import print_issues
from yolops.progress import Progress

app = Typer(help="Import, convert, describe and validate datasets.", no_args_is_help=True)
app.command("schema")(quality_cli.schema)
app.command("validate")(quality_cli.validate)
for _command in (
    versions_cli.commit,
    versions_cli.log,
    versions_cli.diff,
    versions_cli.tag,
    versions_cli.checkout,
    versions_cli.lineage,
):
    app.command()(_command)


class Format(str, Enum):
    yolo = "yolo"
    coco = "coco"
    voc = "voc"
    labelstudio = "labelstudio"
    cvat = "cvat"


def _load(src: Path, fmt: Format | None, strict: bool, quiet: bool = False):
    with Progress(err_console, f"Loading {src}"):
        ds = load_dataset(src, format=fmt.value if fmt else None, strict=strict)
    if not quiet:
        print_issues(ds.issues, console, title=f"Load report for {src}")
    return ds


@app.command()
def convert(
    src: Path = typer.Argument(
        ..., help="A dataset: YOLO data YAML, COCO JSON, VOC folder, Label Studio JSON or CVAT XML."
    ),
    out: Path = typer.Argument(..., help="Folder to write the converted dataset into."),
    to: Format = typer.Option(..., "--to", help="Target format."),
    from_: Format | None = typer.Option(
        None, "--from", help="Source format (detected when omitted)."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Fail, listing every problem, instead of setting bad records aside."
    ),
) -> None:
    """Convert a dataset between YOLO, COCO, Pascal VOC, Label Studio and CVAT, keeping
    splits and classes."""
    ds = _load(src, from_, strict)
    with Progress(err_console, f"Writing {len(ds)} images as {to.value} to {out}"):
        written = save_dataset(ds, out, to.value)
    console.print(
        f"[green]Wrote[/] {len(ds)} images, {ds.num_boxes} boxes, {ds.num_classes} classes "
        f"as {to.value} to [bold]{written}[/]"
    )


@app.command()
def stats(
    src: Path = typer.Argument(
        ..., help="A dataset: YOLO data YAML, COCO JSON, VOC folder, Label Studio JSON or CVAT XML."
    ),
    fmt: Format | None = typer.Option(
        None, "--format", help="Source format (detected when omitted)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print machine-readable JSON instead of tables."
    ),
    strict: bool = typer.Option(False, "--strict", help="Fail on any load problem."),
) -> None:
    """Describe a dataset: images, boxes per class and split, box sizes and shapes, image sizes."""
    from yolops.data.stats import dataset_stats, render_stats

    ds = _load(src, fmt, strict, quiet=as_json)
    st = dataset_stats(ds)
    if as_json:
        print(json.dumps(st.to_dict(), indent=2))
    else:
        render_stats(st, console)
