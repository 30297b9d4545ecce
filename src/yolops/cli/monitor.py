"""`yolops monitor`: live traffic of a served model version against its reference.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE
from yolops.errors import ConfigError
from yolops.workspace import Workspace


def monitor(
    model: str = typer.Option(
        ..., "--model", "-m", help="The served version: NAME@ALIAS or NAME/VERSION."
    ),
    window: str = typer.Option("1h", "--window", help="How far back to look: 30m, 1h, 7d, ..."),
    end: str = typer.Option(
        None, "--end", help="End of the window, ISO 8601 (default: now, UTC if no zone)."
    ),
    html: Path = typer.Option(
        None,
        "--html",
        help="HTML report path [default: WORKSPACE/monitoring/NAME-vVERSION-TIME.html].",
    ),
    json_out: str = typer.Option(
        None, "--json", help="Write the report as JSON to this file ('-': stdout)."
    ),
    webhook: str = typer.Option(
        None,
        "--webhook",
        envvar="YOLOPS_ALERT_WEBHOOK",
        help="POST an alert (JSON with a one-line `text`) here when a threshold is crossed.",
    ),
    to_label: Path = typer.Option(
        None,
        "--to-label",
        help="Write the flagged images the server saved to this folder as "
        "a YOLO dataset to label, pre-labeled by the model.",
    ),
    to_label_limit: int = typer.Option(
        500, "--to-label-limit", min=1, help="Most images written for labeling."
    ),
    # The spellings of the previous release, kept for scripts that use them.
    export_batch: Path = typer.Option(None, "--export-batch", hidden=True),
    export_limit: int = typer.Option(None, "--export-limit", min=1, hidden=True),
    conf: float = typer.Option(
        0.25, "--conf", min=0.0, max=1.0, help="The server's confidence threshold."
    ),
    low_conf: float = typer.Option(
        0.5, "--low-conf", min=0.0, max=1.0, help="Boxes below this are uncertain."
    ),
    low_conf_margin: float = typer.Option(
        0.10,
        "--low-conf-margin",
        min=0.0,
        max=1.0,
        help="Alert when the share of uncertain boxes rises by more than this.",
    ),
    min_images: int = typer.Option(
        30, "--min-images", min=1, help="Fewer images in the window: no verdict."
    ),
    psi: float = typer.Option(0.2, "--psi", help="PSI above which a numeric feature drifted."),
    js: float = typer.Option(
        0.1, "--js", help="Jensen-Shannon distance above which the class mix drifted."
    ),
    alpha: float = typer.Option(0.01, "--alpha", help="Test p-value below which a change is real."),
    database_url: str = typer.Option(
        None,
        "--database-url",
        envvar="YOLOPS_DATABASE_URL",
        help="The server's prediction-log database [default: SQLite in the workspace].",
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Compare the live window of NAME@ALIAS with the reference statistics stored at
    registration: input drift, prediction drift, low-confidence share. Exits 1 when
    a threshold is crossed (after the report, the alert and the images to label)."""
    from yolops.monitor.drift import MonitorConfig
    from yolops.monitor.run import run_monitor
    from yolops.monitor.watch import parse_duration
    from yolops.quality.drift import DriftConfig

    ws = Workspace.resolve(workspace, tracking_uri, database_url)
    out = err_console if json_out == "-" else console  # stdout carries only the JSON then
    config = MonitorConfig(
        conf=conf,
        low_conf=low_conf,
        low_conf_margin=low_conf_margin,
        min_images=min_images,
        drift=DriftConfig(alpha=alpha, psi=psi, js=js),
    )
    with out.status(f"Reading the prediction log of {escape(model)}"):
        outcome = run_monitor(
            model,
            parse_duration(window),
            _parse_end(end),
            ws,
            config,
            html=html,
            json_path=None if json_out in (None, "-") else json_out,
            webhook=webhook,
            to_label=to_label or export_batch,
            to_label_limit=export_limit or to_label_limit,
        )
    report = outcome.report
    _print(report, out)
    out.print(f"HTML report: {outcome.html}")
    if json_out == "-":
        print(json.dumps(report.to_dict(), indent=2))
    if outcome.alert_status is not None:
        out.print(f"Alert sent to the webhook (HTTP {outcome.alert_status}).")
    if to_label or export_batch:
        if outcome.to_label is None:
            out.print("Nothing to label: no image was flagged.")
        else:
            out.print(f"To label: {escape(outcome.to_label.describe())}", soft_wrap=True)
    if outcome.alert_error is not None:
        raise outcome.alert_error
    raise typer.Exit(outcome.exit_code)


def _parse_end(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--end {text!r}: not an ISO 8601 time (e.g. 2026-11-25T14:00:00+00:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _print(report, out) -> None:
    from yolops.monitor.drift import ALERT, OK

    table = Table(
        title=f"{report.model_name} version {report.model_version}: {len(report.rows)} images, "
        f"{report.start:%Y-%m-%d %H:%M}..{report.end:%H:%M} UTC",
        title_justify="left",
    )
    for col in (
        "group",
        "feature",
        "verdict",
        "statistic",
        "value",
        "threshold",
        "p-value",
        "change",
    ):
        table.add_column(
            col, justify="right" if col in ("value", "threshold", "p-value") else "left"
        )
    groups = [("input", f) for f in report.inputs] + [("prediction", f) for f in report.predictions]
    groups.append(("prediction", report.low_confidence))
    for group, f in groups:
        value = "-" if f.value != f.value else f"{f.value:.3g}"
        p = "-" if f.p_value != f.p_value else f"{f.p_value:.2g}"
        verdict = "[bold red]drifted[/]" if f.drifted else "ok"
        table.add_row(
            group, f.feature, verdict, f.statistic, value, f"{f.threshold:g}", p, escape(f.change)
        )
    out.print(table)
    style = {ALERT: "bold red", OK: "green"}.get(report.status, "yellow")
    out.print(f"[{style}]{escape(report.summary())}[/]")
    if report.flagged:
        saved = sum(1 for f in report.flagged if f.row.get("sample_path"))
        out.print(
            f"{len(report.flagged)} images flagged for labeling ({saved} saved by the server)."
        )
