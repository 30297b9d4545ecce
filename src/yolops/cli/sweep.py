"""`yolops sweep`: hyper-parameter search with Optuna, tracked in MLflow.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from yolops.cli.console import console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE, workspace_from


def sweep(
    data: str = typer.Option(
        ..., "--data", "-d", help="Dataset: YOLO data YAML, COCO JSON or VOC folder."
    ),
    trials: int = typer.Option(
        10, "--trials", "-n", help="Trials the sweep should have in all (resumes count)."
    ),
    space: Path = typer.Option(
        None,
        "--space",
        help="Search space YAML (default: lr0, weight_decay, loss weights, mosaic).",
    ),
    name: str = typer.Option(
        None, "--name", help="Sweep name; running it again resumes it (default sweep-DATA)."
    ),
    pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none."),
    config: Path = typer.Option(
        None, "--config", help="Training options YAML every trial starts from."
    ),
    scale: str = typer.Option(None, "--scale", "--model", "-m", help="Model scale: n, s or m."),
    imgsz: int = typer.Option(None, "--imgsz"),
    epochs: int = typer.Option(None, "--epochs", help="Epochs per trial."),
    batch: int = typer.Option(None, "--batch"),
    seed: int = typer.Option(0, "--seed", help="Seed of the TPE sampler."),
    register: str = typer.Option(
        None, "--register", help="Register the best trial's model under this name."
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Search training options with Optuna TPE and pruning; each trial a nested MLflow run."""
    from yolops.track.sweep import load_space, run_sweep
    from yolops.train.config import TrainConfig

    base = TrainConfig.from_yaml(config) if config else TrainConfig()
    flags = dict(data=data, scale=scale, imgsz=imgsz, epochs=epochs, batch=batch)
    base = base.replace(**{k: v for k, v in flags.items() if v is not None})
    result = run_sweep(
        workspace_from(workspace, tracking_uri),
        base,
        trials,
        space=load_space(space) if space else None,
        name=name,
        pruner=pruner,
        seed=seed,
        register=register,
        console=console,
    )
    keys = sorted({k for t in result.trials for k in t["params"]})
    table = Table(title=f"Sweep {result.name}", title_justify="left")
    for col in ("trial", "state", "val mAP50-95", *keys, "run id"):
        table.add_column(col, justify="left" if col in ("state", "run id") else "right")
    for t in result.trials:
        style = "bold green" if t["number"] == result.best_trial else ""
        value = "-" if t["value"] is None else f"{t['value']:.4f}"
        table.add_row(
            str(t["number"]),
            t["state"].lower(),
            value,
            *[_short(t["params"].get(k)) for k in keys],
            (t["run_id"] or "-")[:12],
            style=style,
        )
    console.print(table)
    console.print(
        f"Best: trial {result.best_trial}, val mAP50-95 {result.best_value:.4f}; its config: "
        f"[bold]{result.best_config_path}[/] (`yolops train --config {result.best_config_path}`)"
    )
    if result.registered:
        console.print(f"[green]Registered[/] the best model as [bold]{result.registered}[/]")


def _short(v) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
