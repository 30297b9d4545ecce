"""The demo's tracking step: log a finished training, register it, promote it, and
predict with ``NAME@production`` through the resolver, as a user would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from yolops.errors import PromotionRefused
from yolops.train.trainer import TrainResult
from yolops.workspace import Workspace


def track_register_promote(
    workspace: str | Path | Workspace,
    train_result: TrainResult | str | Path,
    source: Any = None,
    name: str = "shapes-detector",
    alias: str = "production",
    console: Console | None = None,
) -> dict[str, Any]:
    """After a training: make sure it is an MLflow run in ``workspace`` (a training
    already tracked there is reused; otherwise its run folder is logged), register
    its model as the next version of ``name``, promote that version to ``alias``
    (the gate may keep the current holder; the demo says so and goes on), and predict
    ``source`` (any prediction source; none: skip) with ``NAME@alias``.

    Returns ``run_id``, ``version``, ``promoted`` (bool), ``reason``, ``reference``
    (``NAME@alias``), ``served_version`` (the version the alias points at) and
    ``detections`` (one :class:`Detections` per image of ``source``)."""
    from yolops.detector import Detector
    from yolops.track.registry import model_version, promote, register_model
    from yolops.track.tracking import log_run_folder, read_state

    console = console or Console()
    ws = workspace if isinstance(workspace, Workspace) else Workspace.resolve(workspace)
    run_dir = Path(train_result.run_dir if isinstance(train_result, TrainResult) else train_result)
    state = read_state(run_dir)
    if (
        state.get("completed")
        and state.get("run_id")
        and state.get("tracking_uri") == ws.tracking_uri
    ):
        run_id = state["run_id"]
    else:
        run_id = log_run_folder(ws, run_dir, console=console)
    console.print(f"   tracked as MLflow run [bold]{run_id}[/] ({ws.describe()})")
    mv = register_model(ws, run_id, name, description="trained by yolops demo")
    console.print(f"   registered [bold]{name}/{mv.version}[/]")
    try:
        p = promote(ws, name, mv.version, alias)
        promoted, reason = True, p.reason
        console.print(f"   promoted {name}/{mv.version} to [bold]{name}@{alias}[/]: {reason}")
    except PromotionRefused as e:
        promoted, reason = False, str(e)
        console.print(f"   [yellow]not promoted:[/] {reason}")
    reference = f"{name}@{alias}"
    served = str(model_version(ws, reference).version)
    detections = []
    if source is not None:
        detector = Detector(reference, workspace=ws)
        detections = detector.predict(source)
        console.print(
            f"   predicted {len(detections)} image(s) with [bold]{reference}[/] "
            f"(version {served}): "
            f"{sum(len(d) for d in detections)} boxes"
        )
    return {
        "run_id": run_id,
        "version": str(mv.version),
        "promoted": promoted,
        "reason": reason,
        "reference": reference,
        "served_version": served,
        "detections": detections,
    }
