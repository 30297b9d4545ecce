"""`yolops monitor`: live traffic of a served model version against its reference."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE, workspace_from
from yolops.errors import ConfigError


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
    export_batch: Path = typer.Option(
        None,
        "--export-batch",
        help="Write the flagged images the server saved as "
        "a YOLO dataset to label, pre-labeled by the model.",
    ),
    export_limit: int = typer.Option(500, "--export-limit", min=1, help="Most images exported."),
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
    a threshold is crossed (after the report, the alert and the export)."""
    from yolops.monitor.drift import ALERT, MonitorConfig
    from yolops.monitor.watch import monitor as run_monitor
    from yolops.monitor.watch import parse_duration
    from yolops.quality.drift import DriftConfig

    ws = workspace_from(workspace, tracking_uri)
    out = err_console if json_out == "-" else console  # stdout carries only the JSON then
    config = MonitorConfig(
        conf=conf,
        low_conf=low_conf,
        low_conf_margin=low_conf_margin,
        min_images=min_images,
        drift=DriftConfig(alpha=alpha, psi=psi, js=js),
    )
    with out.status(f"Reading the prediction log of {escape(model)}"):
        report = run_monitor(
            model, parse_duration(window), _parse_end(end), ws, database_url, config
        )
    _print(report, out)
    html = html or ws.root / "monitoring" / (
        f"{report.model_name}-v{report.model_version}-{report.end:%Y%m%dT%H%M%SZ}.html"
    )
    from yolops.monitor.report import write_monitor_html

    write_monitor_html(report, html)
    out.print(f"HTML report: {html}")
    if json_out:
        text = json.dumps(report.to_dict(), indent=2)
        if json_out == "-":
            print(text)
        else:
            Path(json_out).parent.mkdir(parents=True, exist_ok=True)
            Path(json_out).write_text(text)
    failed = None  # a webhook that fails must not stop the export, nor the export the alert
    if webhook and report.status == ALERT:
        from yolops.errors import AlertError
        from yolops.monitor.alerts import alert_payload, post_alert

        try:
            status = post_alert(webhook, alert_payload(report, str(html)))
            out.print(f"Alert sent to the webhook (HTTP {status}).")
        except AlertError as e:
            failed = e
    if export_batch is not None:
        _export(report, export_batch, export_limit, ws, out)
    if failed is not None:
        raise failed
    raise typer.Exit(report.exit_code())


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


def _export(report, folder: Path, limit: int, ws, out) -> None:
    from yolops.monitor.export import export_batch
    from yolops.track.resolve import resolve_model

    if not report.flagged:
        out.print("Nothing to export: no image was flagged.")
        return
    model = resolve_model(f"{report.model_name}/{report.model_version}", ws)
    result = export_batch(report, folder, model, limit)
    out.print(f"Export: {escape(result.describe())}", soft_wrap=True)
