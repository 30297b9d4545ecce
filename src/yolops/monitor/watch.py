"""One monitoring pass: a model version's live window against its reference.

    report = monitor("shapes@production", window=timedelta(hours=1))
    report.status, report.alerts, report.exit_code()

The version is the one the reference names *now* (an alias is resolved at the
start of the pass); rows of the window served by other versions of the model
(before a promotion) are counted and left out. Rows come from the prediction log
in the workspace database the server writes to.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from yolops.errors import ConfigError
from yolops.monitor.drift import MonitorConfig, MonitorReport, check_window
from yolops.monitor.log import read_predictions
from yolops.track.reference import load_reference
from yolops.workspace import Workspace

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``1.5h``, ``7d``, ``2w`` as a timedelta."""
    m = _DURATION.match(str(text).lower())
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(
            f"window {text!r}: give a positive number and a unit s, m, h, d or w (e.g. 1h, 30m)"
        )
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def monitor(
    model: str,
    window: timedelta = timedelta(hours=1),
    end: datetime | None = None,
    workspace: Workspace | None = None,
    database_url: str | None = None,
    config: MonitorConfig = MonitorConfig(),
) -> MonitorReport:
    """Check the last ``window`` (up to ``end``, default now) of traffic served by
    the version ``model`` names (``NAME@ALIAS``, ``NAME/VERSION``)."""
    ws = workspace or Workspace.resolve()
    reference = load_reference(ws, model)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = end - window
    url = database_url or ws.database_url
    rows = read_predictions(url, since=start, until=end, model_name=reference.model_name)
    mine = [r for r in rows if str(r["model_version"]) == reference.model_version]
    return check_window(reference, mine, start, end, config, other_versions=len(rows) - len(mine))
