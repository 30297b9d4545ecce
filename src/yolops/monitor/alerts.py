"""Alerts: a monitoring pass that crossed a threshold, POSTed to a webhook.

The body is JSON: ``text`` (one line, so Slack and Mattermost incoming webhooks
show it as it is) and the whole report (:meth:`MonitorReport.to_dict`) beside it
for machines. A webhook that fails is retried once and then reported as
:class:`AlertError`; it never hides the alert itself (the exit code still says so).
"""

from __future__ import annotations

import time

import httpx

from yolops.errors import AlertError
from yolops.monitor.drift import MonitorReport


def alert_payload(report: MonitorReport, report_path: str | None = None) -> dict:
    text = f"yolops monitor ALERT: {report.summary()}"
    if report_path:
        text += f" (report: {report_path})"
    return {"text": text, "report_path": report_path, **report.to_dict()}


def post_alert(url: str, payload: dict, timeout: float = 10.0, retries: int = 1) -> int:
    """POST ``payload`` as JSON to ``url``; the HTTP status on a 2xx answer."""
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(1.0)
        try:
            r = httpx.post(url, json=payload, timeout=timeout)
        except httpx.HTTPError as e:
            problem = f"{type(e).__name__}: {e}"
            continue
        if r.is_success:
            return r.status_code
        problem = f"HTTP {r.status_code}: {r.text[:200]}"
        if r.status_code < 500:
            break  # the receiver refuses it; asking again will not help
    raise AlertError(f"webhook {url} did not take the alert ({problem})")
