"""Monitoring: what the served model saw and said, against what it was trained on.

    from yolops.monitor import run_monitor
    outcome = run_monitor("shapes@production", window=timedelta(hours=1), to_label="to-label/")
    sys.exit(outcome.exit_code)

The server writes the prediction log (:mod:`yolops.monitor.log`); registration
stores reference statistics (:mod:`yolops.track.reference`); a monitoring pass
compares the two (:mod:`yolops.monitor.drift`, :mod:`yolops.monitor.watch`), and a
monitoring run (:mod:`yolops.monitor.run`) also reports, alerts and sends the flagged
images back to labeling (:mod:`yolops.monitor.to_label`).
"""

from __future__ import annotations

from yolops._lazy import lazy_exports

# Imported on first use (deliberately, for start-up time): the server needs only the
# log, and must not load MLflow, the drift tests and the report code with it.
_NAMES = {
    "PredictionLog": "yolops.monitor.log",
    "LogEntry": "yolops.monitor.log",
    "read_predictions": "yolops.monitor.log",
    "Reference": "yolops.track.reference",
    "build_reference": "yolops.track.reference",
    "attach_reference": "yolops.track.reference",
    "load_reference": "yolops.track.reference",
    "MonitorConfig": "yolops.monitor.drift",
    "MonitorReport": "yolops.monitor.drift",
    "check_window": "yolops.monitor.drift",
    "monitor": "yolops.monitor.watch",
    "parse_duration": "yolops.monitor.watch",
    "run_monitor": "yolops.monitor.run",
    "MonitorOutcome": "yolops.monitor.run",
    "write_monitor_html": "yolops.monitor.report",
    "write_label_batch": "yolops.monitor.to_label",
    "LabelBatch": "yolops.monitor.to_label",
    "post_alert": "yolops.monitor.alerts",
}
__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
