"""Lineage between dataset versions and runs: every training and evaluation logs the
data it used as an MLflow dataset input (name, digest, source: MLflow's UI shows it),
and tags the run with the version (``dataset.version``), so that a version can list
the runs and registered models that learned from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag

from yolops.data.dataset import Dataset
from yolops.data.versions import Version
from yolops.workspace import Workspace

TAG_DATASET_VERSION = "dataset.version"
CONTEXT = "mlflow.data.context"


def dataset_source(data: str | Path | None, version_ref: str = "", root: str | Path = "") -> str:
    """Where a run's dataset can be read again from any folder, as the run records it:
    a dataset version's exact reference (``NAME@vN``, even when the user gave ``NAME``),
    else the absolute path of the data as given (or of the dataset's root); a path that
    does not exist here is kept as given."""
    if version_ref:
        return version_ref
    for given in (data, root):
        if given:
            path = Path(given).expanduser()
            return str(path.resolve()) if path.exists() else str(given)
    return ""


def dataset_input(name: str, digest: str, source: str, context: str) -> DatasetInput:
    """The MLflow input for a dataset: ``name`` (``bccd@v2`` for a version), its
    ``digest``, where it lives, and what the run did with it (``training``, ``evaluation``)."""
    entity = MlflowDataset(
        name=name or "dataset",
        digest=(digest or "unknown")[:36],
        source_type="local",
        source=json.dumps({"uri": source}),
    )
    return DatasetInput(dataset=entity, tags=[InputTag(key=CONTEXT, value=context)])


def input_of(dataset: Dataset, source: str, context: str, part: str = "") -> DatasetInput:
    """:func:`dataset_input` for a loaded dataset: a version by its reference (and
    ``part``, a split evaluated) and full digest, anything else by name and content hash."""
    if dataset.version is not None:
        name = dataset.version.ref + (f"/{part}" if part else "")
        return dataset_input(name, dataset.version.digest, source, context)
    return dataset_input(dataset.name, dataset.content_hash(), source, context)


@dataclass(frozen=True)
class RunUse:
    run_id: str
    kind: str  # train, val, sweep...
    started: str
    models: tuple[str, ...]  # NAME/VERSION registered from the run


def runs_on_version(workspace: Workspace, version: Version) -> list[RunUse]:
    """The runs tagged with ``version`` in every experiment, newest first, with the
    model versions registered from each."""
    client = workspace.client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    runs = client.search_runs(
        experiments,
        filter_string=f"tags.`{TAG_DATASET_VERSION}` = '{version.ref}'",
        order_by=["attributes.start_time DESC"],
    )
    out = []
    for run in runs:
        models = client.search_model_versions(f"run_id = '{run.info.run_id}'")
        started = datetime.fromtimestamp(run.info.start_time / 1000, UTC).astimezone()
        out.append(
            RunUse(
                run.info.run_id,
                run.data.tags.get("yolops.kind", "?"),
                started.strftime("%Y-%m-%d %H:%M"),
                tuple(f"{m.name}/{m.version}" for m in models),
            )
        )
    return out
