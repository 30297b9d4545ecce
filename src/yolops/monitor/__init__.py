"""Monitoring: what the served model saw and said, against what it was trained on.

    from yolops.monitor import monitor, write_monitor_html, export_batch
    report = monitor("shapes@production", window=timedelta(hours=1))
    write_monitor_html(report, "monitor.html"); sys.exit(report.exit_code())

The server writes the prediction log (:mod:`yolops.monitor.log`); registration
stores reference statistics (:mod:`yolops.monitor.reference_store`); a monitoring
pass compares the two (:mod:`yolops.monitor.drift`). Names are imported on first
use, so that the server, which needs only the log, does not load the rest.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "PredictionLog": "log",
    "LogEntry": "log",
    "read_predictions": "log",
    "Reference": "reference",
    "build_reference": "reference",
    "attach_reference": "reference_store",
    "load_reference": "reference_store",
    "MonitorConfig": "drift",
    "MonitorReport": "drift",
    "check_window": "drift",
    "monitor": "watch",
    "parse_duration": "watch",
    "write_monitor_html": "report",
    "export_batch": "export",
    "post_alert": "alerts",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'yolops.monitor' has no attribute {name!r}")
    return getattr(importlib.import_module(f"yolops.monitor.{_NAMES[name]}"), name)
