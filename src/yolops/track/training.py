"""Training with tracking: one call that trains (or resumes) a detector and records it
as an MLflow run in a workspace. The CLI, the sweep's trials, the demo and
``Detector.train(track=True)`` all train through it.

    tracked = train_tracked(TrainConfig(data="data.yaml", epochs=30), Workspace.resolve())
    tracked.run_id, tracked.result.best

Tracking never costs a training: a store that fails warns and the training goes on
(see :class:`~yolops.track.tracking.MLflowTracker`). A training that fails or is
interrupted ends its run as FAILED or KILLED, with the reason as a tag. A resumed
training continues its own run when it was tracked in the same store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from yolops.data.dataset import Dataset
from yolops.track.tracking import MLflowTracker, read_state
from yolops.train.config import TrainConfig
from yolops.train.trainer import TrainCallback, TrainResult, train
from yolops.train.trainer import resume as resume_training
from yolops.workspace import DEFAULT_EXPERIMENT, Workspace


@dataclass(frozen=True)
class TrackedTraining:
    """A finished training and the MLflow run that recorded it."""

    result: TrainResult
    run_id: str | None  # None when the run could not even start
    failure: str | None  # why tracking stopped, when it did (the training finished anyway)

    @property
    def tracked(self) -> bool:
        """Whether the whole training, model included, is in the tracking store."""
        return self.run_id is not None and self.failure is None


def train_tracked(
    config: TrainConfig | None,
    workspace: Workspace,
    *,
    dataset: Dataset | None = None,
    resume: str | Path | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    kind: str = "train",
    tags: Mapping[str, str] | None = None,
    log_model: bool = True,
    callbacks: Iterable[TrainCallback] = (),
    stopped_by: Mapping[type[BaseException], str] | None = None,
    tracker: MLflowTracker | None = None,
    changes: Mapping[str, Any] | None = None,
    console: Console | None = None,
) -> TrackedTraining:
    """Train ``config`` on ``dataset`` (else ``config.data``) as one MLflow run of
    ``experiment`` in ``workspace``, its run folder under the workspace unless
    ``config.project`` says where; or resume ``resume`` (a ``last.pt``) with
    ``changes`` to its options (see :func:`yolops.train.trainer.resume`). ``callbacks``
    listen beside the tracker. ``parent_run_id`` nests the run (a sweep trial under
    its sweep).

    ``stopped_by`` maps exceptions that stop a training on purpose to the reason the
    run is tagged with (Ctrl-C is "interrupted"); such a run ends KILLED, any other
    exception ends it FAILED; either way the exception goes on. ``tracker``: a
    tracker built by the caller (to read its run id when the training raises)
    instead of one built from the settings above."""
    tracker = tracker or MLflowTracker(
        workspace,
        experiment=experiment,
        run_name=run_name,
        parent_run_id=parent_run_id,
        run_id=_resumed_run(workspace, resume),
        kind=kind,
        tags=dict(tags or {}),
        log_model=log_model,
        console=console,
    )
    stops = {KeyboardInterrupt: "interrupted", **(stopped_by or {})}
    listeners = [tracker, *callbacks]
    try:
        if resume is not None:
            result = resume_training(resume, changes, dataset, listeners, console)
        else:
            result = train(config, dataset, listeners, console=console, workspace=workspace)
    except BaseException as e:
        reason = next((r for kind, r in stops.items() if isinstance(e, kind)), None)
        tracker.close("KILLED" if reason else "FAILED", reason or type(e).__name__)
        raise
    return TrackedTraining(result, tracker.run_id, tracker.failure)


def _resumed_run(workspace: Workspace, resume: str | Path | None) -> str | None:
    """The run a resumed training continues: its own, when it was tracked in the same
    store (``tracking.yaml`` in its run folder says)."""
    if resume is None:
        return None
    state = read_state(Path(resume).parent.parent)
    if state.get("run_id") and state.get("tracking_uri") == workspace.tracking_uri:
        return state["run_id"]
    return None
