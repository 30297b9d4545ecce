"""`yolops predict` and `yolops export`.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE, workspace_from


def predict(
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="A model file (a .pt checkpoint or .onnx) or a registry reference: "
        "NAME@ALIAS, NAME/VERSION or runs:/RUN_ID.",
    ),
    source: list[str] = typer.Option(
        ...,
        "--source",
        "-s",
        help="An image file, a folder of images and videos, a glob pattern (quoted) or a "
        "video file; repeatable. Not supported yet: URLs, camera indexes, RTSP streams.",
    ),
    conf: float = typer.Option(0.25, "--conf", help="Minimum score."),
    iou: float = typer.Option(0.7, "--iou", help="NMS IoU threshold."),
    max_det: int = typer.Option(300, "--max-det", help="Most detections per image."),
    classes: list[int] = typer.Option(
        None, "--classes", help="Keep only these class ids (repeatable)."
    ),
    batch: int = typer.Option(8, "--batch", help="Images per inference run."),
    backend: str = typer.Option(
        "auto", "--backend", help="auto (ONNX Runtime on CPU), onnx or torch."
    ),
    save: bool = typer.Option(
        False, "--save", help="Write images (and videos) with the boxes drawn."
    ),
    out: Path = typer.Option(
        None, "--out", help="Where --save and --json write [default: WORKSPACE/predict]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Write detections.json to --out."),
    full_decode: bool = typer.Option(
        False,
        "--full-decode",
        help="Decode JPEGs at full size even where a reduced (1/2, 1/4, 1/8) "
        "decode would do for the model's input size.",
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Detect objects in images, folders, globs or videos; an unreadable file is reported
    and the others go on (exit 1 at the end)."""
    from yolops.errors import SourceError
    from yolops.infer.predict_run import run_predict
    from yolops.track.resolve import load_model

    ws = workspace_from(workspace, tracking_uri)
    predictor = load_model(model, ws, backend=backend)

    def unreadable(name: str, error: Exception) -> None:
        err_console.print(f"[yellow]skipped:[/] {escape(str(error))}", soft_wrap=True)

    summary = run_predict(
        predictor,
        source,
        conf=conf,
        iou=iou,
        max_det=max_det,
        classes=classes or None,
        batch=batch,
        save=save,
        out=out or ws.predict_dir,
        write_json=as_json,
        console=err_console,
        reduced_decode=not full_decode,
        on_error=unreadable,
    )
    table = Table(title="Detections", title_justify="left")
    table.add_column("source", overflow="fold")  # whole, however narrow the terminal
    table.add_column("boxes", justify="right")
    table.add_column("classes")
    for row in summary["items"][:20]:
        table.add_row(row["name"], str(row["count"]), row["classes"])
    if len(summary["items"]) > 20:
        table.caption = f"… {len(summary['items']) - 20} more"
    console.print(table)
    for label, path in summary["outputs"].items():
        console.print(f"{label}: [bold]{path}[/]")
    if summary["failed"]:
        raise SourceError(
            f"{len(summary['failed'])} unreadable file(s) skipped (each named above); "
            f"{len(summary['items'])} image(s) predicted"
        )


def export(
    model: str = typer.Option(..., "--model", "-m", help="A PyTorch checkpoint (.pt)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="ONNX file to write (default next to the checkpoint)."
    ),
    end2end: bool = typer.Option(
        False, "--end2end", help="Put NMS inside the graph (ONNX NonMaxSuppression)."
    ),
    dynamic: bool = typer.Option(False, "--dynamic", help="Dynamic batch dimension."),
    opset: int = typer.Option(17, "--opset"),
    data: str = typer.Option(
        None, "--data", help="Also compare mAP of PyTorch and ONNX on this dataset's val split."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the parity report as JSON."),
) -> None:
    """Export to ONNX and print a parity and latency table (PyTorch against ONNX Runtime)."""
    from yolops.data.dataset import load_dataset
    from yolops.infer.export import export_onnx
    from yolops.infer.parity import parity_report
    from yolops.progress import Progress

    out = out or Path(model).with_suffix(".end2end.onnx" if end2end else ".onnx")
    kind = "an end-to-end graph (NMS inside)" if end2end else "a raw graph"
    with Progress(err_console, f"Exporting {model} to ONNX as {kind}"):
        path = export_onnx(model, out, opset=opset, dynamic_batch=dynamic, end2end=end2end)
    (err_console if as_json else console).print(f"[green]Wrote[/] [bold]{path}[/]")
    dataset = load_dataset(data) if data else None
    what = f"{data}'s images" if data else "generated scenes (--data for your own images)"
    with Progress(err_console, f"Comparing PyTorch and ONNX Runtime on {what}"):
        report = parity_report(model, path, dataset=dataset)
    if as_json:
        print(json.dumps(report, indent=2, default=float))
        return
    console.print(parity_table(report))


def parity_table(report: dict) -> Table:
    """PyTorch and ONNX Runtime side by side (latency, mAP), then how well they agree."""
    table = Table(
        title=f"PyTorch vs ONNX Runtime on {report['images_from']}",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("PyTorch", justify="right")
    table.add_column("ONNX Runtime", justify="right")
    rows = (
        ("latency_ms", "predict call, ms (median)", "{:.2f}"),
        ("map50_95", "mAP50-95", "{:.4f}"),
        ("map50", "mAP50", "{:.4f}"),
    )
    for key, label, fmt in rows:
        if key in report:
            table.add_row(label, fmt.format(report[key]["torch"]), fmt.format(report[key]["onnx"]))
    ok = (
        report["unmatched"] == 0
        and report["min_iou"] >= 0.99
        and report["class_agreement"] == 1.0
        and report["max_score_diff"] <= 1e-3
    )
    table.caption = (
        f"{'[green]parity holds' if ok else '[red]parity broken'}[/]: {report['matched']} of "
        f"{report['boxes_reference']} boxes matched ({report['unmatched']} unmatched), min IoU "
        f"{report['min_iou']:.4f}, same class {report['class_agreement']:.1%}, "
        f"max score difference {report['max_score_diff']:.2e}"
    )
    return table
