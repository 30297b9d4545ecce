"""`yolops train` and `yolops val`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from yolops.cli.console import console


def train(
    data: str = typer.Option(None, "--data", "-d", help="Dataset: YOLO data YAML, COCO JSON or VOC folder."),
    model: str = typer.Option(None, "--model", "-m", help="Model scale: n, s or m."),
    imgsz: int = typer.Option(None, "--imgsz", help="Input size, a multiple of 32."),
    epochs: int = typer.Option(None, "--epochs", help="Number of epochs (ignored with --time)."),
    time: float = typer.Option(None, "--time", help="Wall-clock budget in seconds; the schedule adapts to it."),
    batch: int = typer.Option(None, "--batch", help="Batch size."),
    optimizer: str = typer.Option(None, "--optimizer", help="auto, sgd or adamw."),
    lr0: float = typer.Option(None, "--lr0", help="Initial learning rate (0: the optimizer's default)."),
    patience: int = typer.Option(None, "--patience", help="Validations without improvement before stopping."),
    seed: int = typer.Option(None, "--seed"),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N."),
    workers: int = typer.Option(None, "--workers", help="Data-loading worker processes."),
    project: str = typer.Option(None, "--project", help="Folder holding run folders."),
    name: str = typer.Option(None, "--name", help="Run folder name (default exp, exp2, ...)."),
    config: Path = typer.Option(None, "--config", help="A YAML file of training options; flags override it."),
    resume: Path = typer.Option(None, "--resume", help="Continue an interrupted training from its last.pt."),
) -> None:
    """Train a yolops detector from scratch."""
    from yolops.train.config import TrainConfig
    from yolops.train.trainer import train as run_training

    cfg = TrainConfig.from_yaml(config) if config else TrainConfig()
    flags = dict(data=data, model=model, imgsz=imgsz, epochs=epochs, time=time, batch=batch,
                 optimizer=optimizer, lr0=lr0, patience=patience, seed=seed, device=device,
                 workers=workers, project=project, name=name)
    cfg = cfg.replace(**{k: v for k, v in flags.items() if v is not None})
    if resume is None and not cfg.data:
        raise typer.BadParameter("give --data (or --resume)", param_hint="--data")
    result = run_training(cfg, resume=resume, console=console)
    console.print(
        f"throughput {result.train_images_per_second:.1f} train img/s, peak memory {result.peak_memory_mb:.0f} MB, "
        f"run folder [bold]{result.run_dir}[/]"
    )


def val(
    model: str = typer.Option(..., "--model", "-m", help="A checkpoint (.pt) or ONNX file."),
    data: str = typer.Option(..., "--data", "-d", help="Dataset to evaluate on."),
    split: str = typer.Option("val", "--split", help="Split to evaluate ('all' for every image)."),
    batch: int = typer.Option(8, "--batch"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Evaluate a model: COCO mAP50-95, mAP50, per-class AP, precision and recall."""
    from yolops.detector import Detector

    det = Detector(model)
    with console.status(f"Evaluating {model} on {data} ({split}) …"):
        result = det.val(data, split=None if split == "all" else split, batch=batch)
    if as_json:
        # strict JSON: a class with no ground truth has AP NaN -> null
        metrics = {k: (None if v != v else v) for k, v in result.to_metrics("").items()}
        print(json.dumps(metrics, indent=2))
        return
    console.print(metrics_table(result, title=f"{model} on {data} ({split})"))


def metrics_table(result, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("class", "AP50-95", "AP50"):
        table.add_column(col, justify="right" if col != "class" else "left")
    for name, ap in result.per_class_ap.items():
        table.add_row(name, f"{ap:.3f}", f"{result.per_class_ap50.get(name, float('nan')):.3f}")
    table.add_row("[bold]all", f"[bold]{result.map50_95:.3f}", f"[bold]{result.map50:.3f}")
    table.caption = (f"{result.num_images} images, {result.num_boxes} boxes; at the best-F1 threshold "
                     f"{result.conf_threshold:.3f}: precision {result.precision:.3f}, recall {result.recall:.3f}")
    return table
