"""Runs of a workspace, listed and compared: what ``yolops runs list`` and
``yolops runs compare`` print."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from yolops.errors import TrackingError
from yolops.track.store import get_run, store_errors
from yolops.track.tracking import TAG_DATASET, TAG_KIND, TAG_PARENT
from yolops.workspace import Workspace

# The metrics a comparison shows, in this order, when a run has them.
KEY_METRICS = (
    "best/val/map50_95",
    "best/val/map50",
    "best/val/precision",
    "best/val/recall",
    "best/test/map50_95",
    "val/map50_95",
    "train/box_loss",
    "train/cls_loss",
    "epochs",
    "seconds",
)


@dataclass
class RunSummary:
    run_id: str
    name: str
    kind: str
    status: str
    started: str
    dataset: str
    parent: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    experiment: str = ""

    def headline_map(self) -> tuple[str, float] | None:
        """The one mAP50-95 that says how good the run is, and where it was measured:
        its best weights on val for a training, the split it scored for an evaluation."""
        for key in ("best/val/map50_95", "val/map50_95", "best/test/map50_95"):
            if key in self.metrics:
                return key.removesuffix("/map50_95"), self.metrics[key]
        for key in sorted(self.metrics):
            if key.endswith("/map50_95") and key.count("/") == 1:  # test/..., all/...
                return key.removesuffix("/map50_95"), self.metrics[key]
        return None


def summarize(run) -> RunSummary:
    tags = run.data.tags
    started = (
        datetime.fromtimestamp(run.info.start_time / 1000, UTC).strftime("%m-%d %H:%M")
        if run.info.start_time
        else ""
    )
    return RunSummary(
        run.info.run_id,
        run.info.run_name or "",
        tags.get(TAG_KIND, ""),
        run.info.status,
        started,
        tags.get(TAG_DATASET, ""),
        tags.get(TAG_PARENT, ""),
        dict(run.data.metrics),
        dict(run.data.params),
    )


@store_errors
def list_runs(
    ws: Workspace, experiment: str | None = None, kind: str | None = None, limit: int = 50
) -> list[RunSummary]:
    """The newest runs first, of ``experiment`` or (None) of every experiment; ``kind``
    keeps train, val, sweep or trial runs only. A workspace without runs gives []."""
    client = ws.client()
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if experiment is not None:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            known = ", ".join(experiments.values()) or "none"
            raise TrackingError(
                f"no experiment {experiment!r} in {ws.describe()} (experiments: {known})"
            )
        experiments = {exp.experiment_id: exp.name}
    if not experiments:
        return []
    query = f"tags.`{TAG_KIND}` = '{kind}'" if kind else ""
    runs = client.search_runs(
        list(experiments),
        filter_string=query,
        max_results=limit,
        order_by=["attributes.start_time DESC"],
    )
    out = []
    for r in runs:
        summary = summarize(r)
        summary.experiment = experiments.get(r.info.experiment_id, "")
        out.append(summary)
    return out


@dataclass
class Comparison:
    runs: list[RunSummary]
    params: dict[str, list[str]]  # only the params that differ between the runs
    metrics: dict[str, list[float | None]]
    same_params: int  # how many params all runs share


@store_errors
def compare_runs(ws: Workspace, run_ids: list[str]) -> Comparison:
    """The params that differ between the runs and their key metrics."""
    if len(run_ids) < 2:
        raise TrackingError("give at least two run ids to compare")
    runs = [summarize(get_run(ws, rid)) for rid in run_ids]
    keys = sorted({k for r in runs for k in r.params})
    differ = {k: [r.params.get(k, "-") for r in runs] for k in keys}
    differ = {k: v for k, v in differ.items() if len(set(v)) > 1}
    present = [k for k in KEY_METRICS if any(k in r.metrics for r in runs)]
    metrics: dict[str, list[Any]] = {k: [r.metrics.get(k) for r in runs] for k in present}
    return Comparison(runs, differ, metrics, len(keys) - len(differ))
