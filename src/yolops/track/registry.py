"""The model registry: versions, aliases, lineage and the promotion gate, on MLflow's.

    mv = register_model(ws, run_id, "shapes")            # version 1, 2, ...
    promote(ws, "shapes", mv.version, alias="production")  # gated on val mAP50-95
    model_version(ws, "shapes@production")                # NAME@ALIAS, NAME/VERSION or NAME

Aliases replace MLflow's deprecated stages. A promotion is refused when the
candidate's validation mAP50-95 (``best/val/map50_95`` of its run) is below that of
the version holding the alias, measured on the same dataset (same content hash);
``force`` overrides it, and the reason is said either way.
"""

from __future__ import annotations

import getpass
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from yolops.errors import PromotionRefused, TrackingError, YolopsError
from yolops.track.reference import attach_reference
from yolops.track.store import (
    NAME_RE,
    get_run,
    model_version,
    not_found,
    store_errors,
    unreachable,
    versions,
)
from yolops.track.tracking import (
    GATE_METRIC,
    TAG_DATASET,
    TAG_DATASET_HASH,
    TAG_MODEL_ID,
    TAG_REFERENCE,
)
from yolops.workspace import Workspace


@store_errors
def register_model(
    ws: Workspace, run_id: str, name: str, description: str = "", reference: bool = True
):
    """Register the model a training run logged as the next version of ``name``
    (created when new). The version carries the run's lineage as tags and, with
    ``reference``, the reference statistics that monitoring compares live traffic
    with (built from the run's dataset; a :class:`ReferenceWarning` says why when
    they cannot be, and the version is registered without them)."""
    if not NAME_RE.match(name):
        raise TrackingError(f"model name {name!r}: use letters, digits, '_', '-' and '.'")
    run = get_run(ws, run_id)
    model_id = run.data.tags.get(TAG_MODEL_ID)
    if not model_id:
        raise TrackingError(
            f"run {run_id} has no logged model (only finished, tracked trainings have one; "
            f"its status is {run.info.status})"
        )
    client = ws.client()
    try:
        client.create_registered_model(name)
    except MlflowException as e:
        if getattr(e, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise unreachable(ws, e) from None
    tags = {k: run.data.tags[k] for k in (TAG_DATASET, TAG_DATASET_HASH) if k in run.data.tags}
    if GATE_METRIC in run.data.metrics:
        tags["val_map50_95"] = f"{run.data.metrics[GATE_METRIC]:.6f}"
    tags["registered_by"] = getpass.getuser()
    with ws.active():  # MLflow looks the logged model up through its global tracking URI
        mv = client.create_model_version(
            name,
            source=f"models:/{model_id}",
            run_id=run_id,
            tags=tags,
            description=description or None,
            model_id=model_id,
        )
    if reference:
        _attach_reference_or_warn(ws, mv)
    return mv


class ReferenceWarning(UserWarning):
    """A model version was registered without reference statistics for monitoring."""


def _attach_reference_or_warn(ws: Workspace, mv) -> None:
    try:
        attach_reference(ws, f"{mv.name}/{mv.version}")
    except YolopsError as e:
        warnings.warn(
            f"registered {mv.name} version {mv.version} without reference statistics for "
            f"monitoring: {e}",
            ReferenceWarning,
            stacklevel=3,
        )


@store_errors
def list_models(ws: Workspace) -> list[dict[str, Any]]:
    """One row per registered model: name, versions, latest version, aliases, updated."""
    rows = []
    for model in ws.client().search_registered_models(max_results=1000):
        vs = versions(ws, model.name)
        rows.append(
            {
                "name": model.name,
                "versions": len(vs),
                "latest": str(vs[-1].version) if vs else None,
                "aliases": {a: str(v) for a, v in (model.aliases or {}).items()},
                "updated": _iso(model.last_updated_timestamp),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


@store_errors
def describe(ws: Workspace, ref: str) -> dict[str, Any]:
    """What ``yolops models show`` prints: the version, its aliases, who registered it
    and when, its run's key metrics and dataset lineage."""
    mv = model_version(ws, ref)
    run = get_run(ws, mv.run_id) if mv.run_id else None
    tags = run.data.tags if run else {}
    return {
        "name": mv.name,
        "version": str(mv.version),
        "aliases": list(mv.aliases or []),
        "run_id": mv.run_id,
        # MLflow leaves a version's model_id unset when it reads the version back (the
        # version's source is models:/ID); the run's tag has it.
        "model_id": mv.model_id or tags.get(TAG_MODEL_ID),
        "source": mv.source,
        "status": mv.status,
        "registered_by": (mv.tags or {}).get("registered_by") or mv.user_id or "",
        "registered_at": _iso(mv.creation_timestamp),
        "trained_by": tags.get("mlflow.user", ""),
        "trained_at": _iso(run.info.start_time) if run else "",
        "metrics": {
            k: v
            for k, v in sorted((run.data.metrics if run else {}).items())
            if k.startswith("best/")
        },
        "lineage": {
            k: v
            for k, v in sorted(tags.items())
            if k.startswith(("dataset.", "git.")) or k == "mlflow.parentRunId"
        },
        "promotions": {k: v for k, v in (mv.tags or {}).items() if k.startswith("promoted.")},
        "reference": (mv.tags or {}).get(TAG_REFERENCE, ""),
    }


@dataclass(frozen=True)
class Promotion:
    name: str
    version: str
    alias: str
    previous: str | None  # the version that held the alias before, if any
    reason: str  # why the gate let it through


def _gate_inputs(ws: Workspace, mv) -> tuple[float | None, str]:
    run = get_run(ws, mv.run_id) if mv.run_id else None
    if run is None:
        return None, ""
    return run.data.metrics.get(GATE_METRIC), run.data.tags.get(TAG_DATASET_HASH, "")


@store_errors
def promote(
    ws: Workspace,
    name: str,
    version: str | int,
    alias: str = "production",
    force: bool = False,
) -> Promotion:
    """Point ``NAME@alias`` at ``version``, gated on validation mAP50-95 (see the
    module docstring); raises :class:`PromotionRefused` saying why."""
    if not re.match(r"^[\w\-]+$", alias) or alias.isdigit():
        raise TrackingError(f"alias {alias!r}: use letters, digits, '_' and '-' (not a number)")
    candidate = model_version(ws, f"{name}/{version}")
    client = ws.client()
    try:
        holder = client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if not not_found(e):
            raise unreachable(ws, e) from None
        holder = None
    score, dataset = _gate_inputs(ws, candidate)
    if holder is None:
        reason = f"no version held {alias!r} before"
    elif str(holder.version) == str(candidate.version):
        reason = f"version {candidate.version} already holds {alias!r}"
    else:
        held, held_dataset = _gate_inputs(ws, holder)
        reason = _gate(
            name,
            str(candidate.version),
            score,
            dataset,
            str(holder.version),
            held,
            held_dataset,
            alias,
            force,
        )
    client.set_registered_model_alias(name, alias, candidate.version)
    stamp = f"{getpass.getuser()} {datetime.now(UTC).isoformat(timespec='seconds')}"
    client.set_model_version_tag(name, candidate.version, f"promoted.{alias}", stamp)
    return Promotion(
        name, str(candidate.version), alias, str(holder.version) if holder else None, reason
    )


def _gate(
    name: str,
    version: str,
    score: float | None,
    dataset: str,
    held_version: str,
    held: float | None,
    held_dataset: str,
    alias: str,
    force: bool,
) -> str:
    fmt = lambda v: "none" if v is None else f"{v:.4f}"  # noqa: E731
    if dataset != held_dataset or not dataset:
        return (
            f"not compared: version {version} was validated on dataset {dataset or '?'}, version "
            f"{held_version} on {held_dataset or '?'}"
        )
    if score is None or held is None or score >= held:
        if score is None:
            if not force:
                raise PromotionRefused(
                    f"refusing to promote {name} version {version} to {alias!r}: "
                    f"it has no validation mAP50-95 ({GATE_METRIC}) to compare with "
                    f"version {held_version}'s {fmt(held)}; "
                    "pass --force to promote it anyway"
                )
            return f"forced: version {version} has no validation mAP50-95"
        return (
            f"val mAP50-95 {fmt(score)} >= {fmt(held)} of version {held_version} "
            f"on the same dataset ({dataset})"
        )
    if not force:
        raise PromotionRefused(
            f"refusing to promote {name} version {version} to {alias!r}: "
            f"its val mAP50-95 {fmt(score)} is below {fmt(held)} of version {held_version}, "
            f"which holds {alias!r}, on the same dataset ({dataset}); "
            "pass --force to promote it anyway"
        )
    return f"forced: val mAP50-95 {fmt(score)} < {fmt(held)} of version {held_version}"


def _iso(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
