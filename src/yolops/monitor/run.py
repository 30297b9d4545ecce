"""A whole monitoring run, as a scheduler (cron, a CronJob, a pipeline) runs it: check
the window, write the report, alert, send the flagged images back to labeling, and
say with one exit code whether anything needs a person.

    outcome = run_monitor("shapes@production", window=timedelta(hours=1),
                          webhook="https://hooks.example.com/yolops", to_label="to-label/")
    outcome.report.status, outcome.html, outcome.to_label, outcome.exit_code

Each step runs even when an earlier one failed where it can: a webhook that fails
does not stop the export for labeling, and the export does not hide the alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from yolops.errors import AlertError
from yolops.monitor.alerts import alert_payload, post_alert
from yolops.monitor.drift import ALERT, MonitorConfig, MonitorReport
from yolops.monitor.report import write_monitor_html
from yolops.monitor.to_label import LabelBatch, write_label_batch
from yolops.monitor.watch import monitor
from yolops.track.resolve import resolve_model
from yolops.workspace import Workspace


@dataclass(frozen=True)
class MonitorOutcome:
    """What a monitoring run did. ``exit_code`` is 1 when a threshold was crossed or
    an alert could not be delivered, 0 otherwise (also without enough traffic)."""

    report: MonitorReport
    html: Path
    json: Path | None  # the JSON report, when one was asked for
    alert_status: int | None  # HTTP status of the webhook that took the alert
    alert_error: AlertError | None  # why the alert could not be delivered
    to_label: LabelBatch | None  # None: not asked for, or nothing was flagged

    @property
    def exit_code(self) -> int:
        return 1 if self.alert_error is not None else self.report.exit_code()


def run_monitor(
    model: str,
    window: timedelta = timedelta(hours=1),
    end: datetime | None = None,
    workspace: Workspace | None = None,
    config: MonitorConfig = MonitorConfig(),
    html: str | Path | None = None,
    json_path: str | Path | None = None,
    webhook: str | None = None,
    to_label: str | Path | None = None,
    to_label_limit: int = 500,
) -> MonitorOutcome:
    """Monitor the version ``model`` names (see :func:`~yolops.monitor.watch.monitor`),
    write the HTML report to ``html`` (default: under the workspace's monitoring
    folder) and the JSON report to ``json_path``; on an alert, POST it to
    ``webhook``; write the flagged images the server saved to ``to_label`` as a
    dataset to label, pre-labeled by the version (at most ``to_label_limit``)."""
    ws = workspace or Workspace.resolve()
    report = monitor(model, window, end, ws, config=config)
    html = Path(html) if html else ws.monitoring_dir / _report_name(report)
    write_monitor_html(report, html)
    if json_path is not None:
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_dict(), indent=2))
    status, error = None, None
    if webhook and report.status == ALERT:
        try:
            status = post_alert(webhook, alert_payload(report, str(html)))
        except AlertError as e:
            error = e
    batch = None
    if to_label is not None and report.flagged:
        version = resolve_model(f"{report.model_name}/{report.model_version}", ws)
        batch = write_label_batch(report, to_label, version, to_label_limit)
    return MonitorOutcome(report, html, json_path, status, error, batch)


def _report_name(report: MonitorReport) -> str:
    return f"{report.model_name}-v{report.model_version}-{report.end:%Y%m%dT%H%M%SZ}.html"
