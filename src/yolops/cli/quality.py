"""`yolops data schema` and `yolops data validate`: the data-quality gate.

Plain functions taking Typer options; cli/data.py mounts them on the `data` group.
Exit codes of `validate`: 0 passed, 1 the gate failed (an issue at or above
--fail-on), like any other error.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.console import console, err_console
from yolops.data.dataset import load_dataset
from yolops.errors import ConfigError
from yolops.progress import Progress


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


class ImageChecker(str, Enum):
    yolops = "yolops"
    cleanvision = "cleanvision"


_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def schema(
    src: Path = typer.Argument(..., help="A dataset: YOLO data YAML, COCO JSON, or VOC folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the schema YAML."),
    fmt: str | None = typer.Option(
        None, "--format", help="Source format: yolo, coco or voc (detected when omitted)."
    ),
) -> None:
    # One line: Typer's list of commands keeps the line breaks of a help text.
    """Infer a schema (classes, image formats and sizes, box ranges per class) to edit and validate against."""  # noqa: E501
    from yolops.quality.schema import infer_schema

    ds = _load(src, fmt)
    with console.status("Inferring the schema …", spinner="dots"):
        written = infer_schema(ds).save(out)
    console.print(
        f"[green]Wrote[/] the schema of {len(ds)} images, {ds.num_classes} classes "
        f"to [bold]{written}[/]"
    )


def validate(
    src: Path = typer.Argument(..., help="A dataset: YOLO data YAML, COCO JSON, or VOC folder."),
    schema_path: Path | None = typer.Option(
        None, "--schema", help="Schema YAML to validate against (else inferred)."
    ),
    against: Path | None = typer.Option(
        None, "--against", help="Reference dataset: measure drift, infer the schema from it."
    ),
    fail_on: FailOn = typer.Option(
        FailOn.error, "--fail-on", help="Exit 1 when an issue at or above this severity is found."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML report here."
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write the full report as JSON here."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="Source format: yolo, coco or voc (detected when omitted)."
    ),
    no_images: bool = typer.Option(
        False, "--no-images", help="Check annotations only; read no image."
    ),
    image_checker: ImageChecker = typer.Option(
        ImageChecker.yolops,
        "--image-checker",
        help="Who judges dark, bright, blurry, ... images: our checks or cleanvision.",
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        metavar="MODEL|kfold",
        help="Find likely label errors from a model's predictions (.pt or .onnx, "
        "best not trained on this data), or 'kfold' to train out-of-sample models.",
    ),
    folds: int = typer.Option(
        4, "--folds", help="With --labels kfold: number of folds (models trained)."
    ),
    fold_epochs: int = typer.Option(
        30, "--fold-epochs", help="With --labels kfold: epochs per fold."
    ),
    fold_imgsz: int = typer.Option(
        320, "--fold-imgsz", help="With --labels kfold: training image size."
    ),
) -> None:
    """Validate a dataset: loader issues, box and image anomalies, duplicates and split leakage,
    schema, drift, and (--labels) likely label errors; a summary here, details in --html / --json;
    exit 1 when the gate fails."""
    from yolops.quality.report import write_html
    from yolops.quality.schema import Schema
    from yolops.quality.validate import QualityConfig, validate_dataset

    ds = _load(src, fmt)
    reference = _load(against, fmt) if against else None
    given = Schema.load(schema_path) if schema_path else None
    config = QualityConfig(read_images=not no_images, image_checker=image_checker.value)
    extra = [_label_check(labels, folds, fold_epochs, fold_imgsz)] if labels else []
    images = (len(ds) + (len(reference) if reference is not None else 0)) * config.read_images
    reading = Progress(err_console, "Reading images", total=images)

    def advance(n: int) -> None:
        reading.advance(n)
        if reading.done >= images:
            # before the checks that follow: k-fold training draws its own progress
            # bars, and Rich shows one live display at a time
            reading.finish()

    with reading if images else nullcontext():
        report = validate_dataset(
            ds,
            schema=given,
            against=reference,
            config=config,
            extra_checks=extra,
            progress=advance,
        )
    print_report(report, fail_on.value)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
        console.print(f"JSON report: [bold]{json_out}[/]")
    if html:
        with console.status("Writing the HTML report …", spinner="dots"):
            write_html(report, html, fail_on=fail_on.value)
        console.print(f"HTML report: [bold]{html}[/]")
    raise typer.Exit(report.exit_code(fail_on.value))


def _label_check(source: str, folds: int, epochs: int, imgsz: int):
    from yolops.quality.labels import KFoldConfig, LabelErrorCheck
    from yolops.train.config import TrainConfig

    if source != "kfold" and not Path(source).is_file():
        raise ConfigError(
            f"--labels {source}: no such model file (give a .pt or .onnx, or 'kfold')"
        )
    kfold = KFoldConfig(folds=folds, train=TrainConfig(scale="n", imgsz=imgsz, epochs=epochs))
    return LabelErrorCheck(source, kfold=kfold, console=console)


def _load(src: Path, fmt: str | None):
    with Progress(err_console, f"Loading {src}"):
        return load_dataset(src, format=fmt)


def print_report(report, fail_on: str, examples: int = 2) -> None:
    """A Rich table of issues per code (worst first, with examples), drifted features,
    and the gate's verdict."""
    table = Table(title=f"Quality of {report.dataset.name}", title_justify="left")
    table.add_column("severity")
    table.add_column("code")
    table.add_column("count", justify="right")
    table.add_column("examples", overflow="fold")
    groups: dict[str, list] = {}
    for issue in report.issues:
        groups.setdefault(issue.code, []).append(issue)
    for code, items in sorted(
        groups.items(), key=lambda kv: (-max(i.severity.rank for i in kv[1]), kv[0])
    ):
        sev = max((i.severity for i in items), key=lambda s: s.rank).value
        shown = "\n".join(escape(str(i)) for i in items[:examples])
        if len(items) > examples:
            shown += f"\n… and {len(items) - examples} more"
        table.add_row(f"[{_STYLE[sev]}]{sev}[/]", code, str(len(items)), shown)
    if groups:
        console.print(table)
    if report.drift is not None:
        drifted = report.drift.drifted
        console.print(
            f"Drift against {escape(report.drift.reference)}: {len(drifted)} of "
            f"{len(report.drift.features)} features drifted"
        )
        for f in drifted:
            console.print(f"  [yellow]{escape(f.describe())}[/]")
    counts = report.counts_by_severity()
    failed = report.exit_code(fail_on) != 0
    verdict = "[bold red]FAILED[/]" if failed else "[bold green]PASSED[/]"
    console.print(
        f"{verdict} (--fail-on {fail_on}): [red]{counts['error']} error(s)[/], "
        f"[yellow]{counts['warning']} warning(s)[/], {counts['info']} note(s) in "
        f"{len(report.dataset)} images, {report.dataset.num_boxes} boxes"
    )
