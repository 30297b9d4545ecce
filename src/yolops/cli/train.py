"""`yolops train` and `yolops val`.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import TRACKING_URI, WORKSPACE, workspace_from


def train(
    data: str = typer.Option(
        None, "--data", "-d", help="Dataset: YOLO data YAML, COCO JSON or VOC folder."
    ),
    scale: str = typer.Option(None, "--scale", help="Model scale: n, s or m [default: n]."),
    model: str = typer.Option(None, "--model", "-m", hidden=True),  # the old name of --scale
    imgsz: int = typer.Option(None, "--imgsz", help="Input size, a multiple of 32 [default: 320]."),
    epochs: int = typer.Option(
        None, "--epochs", help="Number of epochs, ignored with --time [default: 30]."
    ),
    time: float = typer.Option(
        None, "--time", help="Wall-clock budget in seconds; the schedule adapts to it."
    ),
    batch: int = typer.Option(None, "--batch", help="Batch size [default: 16]."),
    optimizer: str = typer.Option(None, "--optimizer", help="auto, sgd or adamw [default: auto]."),
    lr0: float = typer.Option(
        None, "--lr0", help="Initial learning rate; 0: the optimizer's own [default: 0]."
    ),
    patience: int = typer.Option(
        None, "--patience", help="Validations without improvement before stopping [default: 50]."
    ),
    seed: int = typer.Option(None, "--seed", help="Random seed [default: 0]."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N [default: auto]."),
    workers: int = typer.Option(
        None, "--workers", help="Data-loading worker processes [default: 0]."
    ),
    project: str = typer.Option(
        None, "--project", help="Folder holding run folders [default: WORKSPACE/runs/train]."
    ),
    name: str = typer.Option(None, "--name", help="Run folder name [default: exp, exp2, ...]."),
    config: Path = typer.Option(
        None, "--config", help="A YAML file of training options; flags override it."
    ),
    resume: Path = typer.Option(
        None,
        "--resume",
        help="Continue a training from its last.pt, with its own options; --epochs, --time, "
        "--patience, --device and --workers may change them.",
    ),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
    experiment: str = typer.Option(
        "yolops", "--experiment", help="MLflow experiment the run goes to."
    ),
    track: bool = typer.Option(
        True, "--track/--no-track", help="Log the training as an MLflow run."
    ),
) -> None:
    """Train a yolops detector from scratch (or resume one); tracked as an MLflow run in
    the workspace."""
    from yolops.track.training import train_tracked
    from yolops.train.config import TrainConfig
    from yolops.train.trainer import resume as resume_training
    from yolops.train.trainer import train as run_training

    if model is not None:
        if scale is not None:
            raise typer.BadParameter(
                "give --scale only (--model is its old name)", param_hint="--scale"
            )
        scale = model
    flags = dict(
        data=data,
        scale=scale,
        imgsz=imgsz,
        epochs=epochs,
        time=time,
        batch=batch,
        optimizer=optimizer,
        lr0=lr0,
        patience=patience,
        seed=seed,
        device=device,
        workers=workers,
        project=project,
        name=name,
    )
    given = {k: v for k, v in flags.items() if v is not None}
    if resume is not None and config is not None:
        raise typer.BadParameter(
            "a resumed training keeps its saved options; give only those to change, as flags",
            param_hint="--config",
        )
    cfg = (TrainConfig.from_yaml(config) if config else TrainConfig()).replace(**given)
    if resume is None and not cfg.data:
        raise typer.BadParameter("give --data (or --resume)", param_hint="--data")
    ws = workspace_from(workspace, tracking_uri)
    if not track:
        result = (
            resume_training(resume, given, console=console)
            if resume is not None  # only the flags given change the saved options
            else run_training(cfg, console=console, workspace=ws)
        )
    else:
        tracked = train_tracked(
            None if resume is not None else cfg,
            ws,
            resume=resume,
            changes=given,
            experiment=experiment,
            console=console,
        )
        result = tracked.result
        if tracked.tracked:
            console.print(
                f"MLflow run [bold]{tracked.run_id}[/] in {ws.describe()}; register it with "
                f"`yolops models register {tracked.run_id} --name NAME`"
            )
    console.print(
        f"throughput {result.train_images_per_second:.1f} train img/s, "
        f"peak memory {result.peak_memory_mb:.0f} MB, "
        f"run folder [bold]{result.run_dir}[/]"
    )


def val(
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="A checkpoint (.pt), ONNX file, NAME@ALIAS, NAME/VERSION or runs:/RUN_ID.",
    ),
    data: str = typer.Option(..., "--data", "-d", help="Dataset to evaluate on."),
    split: str = typer.Option("val", "--split", help="Split to evaluate ('all' for every image)."),
    batch: int = typer.Option(8, "--batch"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    workspace: str = WORKSPACE,
    tracking_uri: str = TRACKING_URI,
    track: bool = typer.Option(
        True, "--track/--no-track", help="Log the evaluation as an MLflow run."
    ),
) -> None:
    """Evaluate a model: COCO mAP50-95, mAP50, per-class AP, precision and recall."""
    from yolops.data.dataset import load_dataset
    from yolops.detector import Detector

    ws = workspace_from(workspace, tracking_uri)
    det = Detector(model, workspace=ws)
    ds = load_dataset(data, workspace=ws)
    part = None if split == "all" else split
    with console.status(f"Evaluating {model} on {data} ({split}) …"):
        result = det.val(ds, split=part, batch=batch)
    if track:
        from yolops.track.tracking import log_evaluation

        evaluated = ds.split(part) if part else ds
        run_id = log_evaluation(
            ws, model, evaluated, part, result.to_metrics(""), model_run_id=_model_run(ws, model)
        )
        (err_console if as_json else console).print(
            f"MLflow run [bold]{run_id}[/] in {ws.describe()}"
        )
    if as_json:
        # strict JSON: a class with no ground truth has AP NaN -> null
        metrics = {k: (None if v != v else v) for k, v in result.to_metrics("").items()}
        print(json.dumps(metrics, indent=2))
        return
    console.print(result.table(title=f"{model} on {data} ({split})"))


def _model_run(ws, model: str) -> str | None:
    """The training run behind a model reference, for the evaluation's lineage."""
    from yolops.track.resolve import RUN_REF, is_reference

    if not is_reference(model):
        return None
    run_ref = RUN_REF.match(model)
    if run_ref:
        return run_ref.group("run")
    from yolops.track.store import model_version

    return model_version(ws, model).run_id
