"""The training engine: a few thin functions around the model, loss and loader.

``train`` sets a run up (device, data, model, optimizer, run folder), loops over
epochs with ``train_one_epoch``, validates the EMA weights, keeps ``last.pt`` and
``best.pt``, and emits plain events to callbacks (the MLflow tracker listens there).
"""

from __future__ import annotations

import csv
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from yolops._version import __version__
from yolops.data.dataset import Dataset, load_dataset
from yolops.device import select_device
from yolops.errors import ConfigError, YolopsError
from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from yolops.model.loss import DetectionLoss
from yolops.model.yolo import YOLO, build_model
from yolops.train.config import TrainConfig
from yolops.train.ema import ModelEMA
from yolops.train.evaluation import evaluate_model
from yolops.train.loader import build_loader
from yolops.train.schedule import Budget, Schedule


class TrainCallback:
    """Listens to a training; every method is optional. Metric keys are stable:
    ``train/box_loss``, ``train/cls_loss``, ``train/dfl_loss``, ``lr``,
    ``val/map50_95``, ``val/map50``, ``val/precision``, ``val/recall``, ``val/ap50_95/<class>``."""

    def on_train_start(self, run_dir: Path, config: TrainConfig, info: dict[str, Any]) -> None: ...
    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def on_train_end(self, result: TrainResult) -> None: ...


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    epochs: int
    metrics: dict[str, float]  # final val (and test, when the dataset has one) metrics of best.pt
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    train_images_per_second: float = 0.0
    peak_memory_mb: float = 0.0
    stopped: str = "completed"  # completed | time | early_stopping


def next_run_dir(project: Path, name: str) -> Path:
    """``project/name``, or the first free ``exp``, ``exp2``, ... when name is empty,
    created here: two trainings starting at once in one project get two folders."""
    if name:
        return project / name
    project.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = project / ("exp" if n == 1 else f"exp{n}")
        try:
            candidate.mkdir()  # atomic: only one process can create it
            return candidate
        except FileExistsError:
            n += 1


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> torch.optim.Optimizer:
    """Weight decay on conv/linear weights only; none on BatchNorm weights and biases
    (decaying them only fights the normalisation)."""
    decay, no_decay, biases = [], [], []
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if pname == "bias":
                biases.append(p)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                no_decay.append(p)
            else:
                decay.append(p)
    groups = [
        {"params": no_decay, "weight_decay": 0.0, "kind": "weight"},
        {"params": decay, "weight_decay": weight_decay, "kind": "weight"},
        {"params": biases, "weight_decay": 0.0, "kind": "bias"},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))


def resolve_optimizer(config: TrainConfig) -> tuple[str, float]:
    """``auto`` is AdamW for short runs: few updates favour its faster start."""
    name = "adamw" if config.optimizer == "auto" else config.optimizer
    lr0 = config.lr0 or (0.01 if name == "sgd" else 0.002)
    return name, lr0


def prepare_data(
    config: TrainConfig, dataset: Dataset | None, console: Console
) -> tuple[Dataset, Dataset]:
    ds = dataset if dataset is not None else load_dataset(config.data)
    if ds.issues.at_least("error"):
        console.print(
            f"[yellow]note:[/] {len(ds.issues.at_least('error'))} record(s) were set aside while "
            "loading; run `yolops data stats` for the list"
        )
    if "train" not in ds.splits:
        if ds.splits:
            raise ConfigError(
                f"dataset {ds.name!r} has no 'train' split (it has {', '.join(ds.splits)})"
            )
        ds = ds.random_split({"train": 0.8, "val": 0.2}, seed=config.seed)
        console.print(
            f"[yellow]note:[/] dataset {ds.name!r} has no splits; "
            f"split it 80/20 (seed {config.seed})"
        )
    if config.val_split not in ds.splits:
        raise ConfigError(
            f"dataset {ds.name!r} has no {config.val_split!r} split to validate on "
            f"(it has {', '.join(ds.splits)}); choose one with val_split"
        )
    train_ds = ds.split("train")
    if len(train_ds) == 0:
        raise ConfigError(f"dataset {ds.name!r}: the train split is empty")
    return ds, train_ds


def train_one_epoch(
    model: YOLO,
    ema: ModelEMA,
    loader,
    loss_fn: DetectionLoss,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    budget: Budget,
    iteration: int,
    grad_clip: float,
    device: torch.device,
    progress: Progress,
    task,
    epoch_label: str,
    budget_task=None,
) -> tuple[dict[str, float], int, int, bool]:
    """One pass over ``loader``. Returns (mean losses and lr, iteration, images seen,
    whether the time budget ran out mid-epoch)."""
    model.train()
    sums = {"box": 0.0, "cls": 0.0, "dfl": 0.0}
    steps, images, out_of_time = 0, 0, False
    start = time.perf_counter()
    for batch in loader:
        p = budget.progress(iteration)
        if budget.timed and p >= 1.0:
            out_of_time = True
            break
        lr, bias_lr = schedule.lr(p), schedule.bias_lr(p)
        for g in optimizer.param_groups:
            g["lr"] = bias_lr if g.get("kind") == "bias" else lr
            if "momentum" in g:
                g["momentum"] = schedule.momentum_at(p)
            elif "betas" in g:
                g["betas"] = (schedule.momentum_at(p), g["betas"][1])
        parts = loss_fn(model(batch.images.to(device)), batch.targets.to(device))
        optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        ema.update(model)
        iteration += 1
        steps += 1
        images += len(batch.image_ids)
        for k in sums:
            sums[k] += float(getattr(parts, k))
        speed = images / max(time.perf_counter() - start, 1e-9)
        progress.update(
            task,
            advance=1,
            description=(
                f"{epoch_label} box {sums['box'] / steps:.3f} cls {sums['cls'] / steps:.3f} "
                f"dfl {sums['dfl'] / steps:.3f} {speed:.1f} img/s"
            ),
        )
        if budget_task is not None:
            progress.update(budget_task, completed=100 * budget.progress(iteration))
    n = max(steps, 1)
    metrics = {f"train/{k}_loss": v / n for k, v in sums.items()}
    metrics["lr"] = optimizer.param_groups[1]["lr"]
    return metrics, iteration, images, out_of_time


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    """All epochs so far, one row each, rewritten whole (a few KB): columns may appear
    later (validation every N epochs), and a resumed run never repeats a row."""
    fields: dict[str, None] = {}
    for row in history:
        fields.update(dict.fromkeys(row))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        w.writeheader()
        w.writerows(history)
    tmp.replace(path)


def _fitness(metrics: dict[str, float]) -> float:
    return 0.9 * metrics.get("val/map50_95", 0.0) + 0.1 * metrics.get("val/map50", 0.0)


def train(
    config: TrainConfig,
    dataset: Dataset | None = None,
    callbacks: Iterable[TrainCallback] = (),
    resume: str | Path | None = None,
    console: Console | None = None,
) -> TrainResult:
    """Train a yolops detector; see :class:`TrainConfig`. ``resume`` is a ``last.pt``
    to continue from, with its own config and run folder."""
    console = console or Console()
    callbacks = list(callbacks)
    wall_start = time.perf_counter()
    state: dict[str, Any] | None = None
    if resume is not None:
        state = load_checkpoint(resume)
        if "optimizer" not in state:
            raise YolopsError(
                f"{resume}: holds no training state to resume (is it a best.pt export?)"
            )
        config = TrainConfig.from_dict(state["config"], source=str(resume))
    device = select_device(config.device, config.threads)
    torch.manual_seed(config.seed)

    ds, train_ds = prepare_data(config, dataset, console)
    val_ds = ds.split(config.val_split)
    run_dir = Path(state["run_dir"]) if state else next_run_dir(Path(config.project), config.name)
    weights_dir = run_dir / "weights"
    weights_dir.mkdir(parents=True, exist_ok=True)
    if state is None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    model = (
        model_from_checkpoint({**state, "model": state["raw_model"]})
        if state
        else build_model(config.scale, ds.num_classes)
    ).to(device)
    opt_name, lr0 = resolve_optimizer(config)
    optimizer = build_optimizer(model, opt_name, lr0, config.momentum, config.weight_decay)
    ema = ModelEMA(model, config.ema_decay, config.ema_tau)
    loss_fn = DetectionLoss(
        ds.num_classes, model.reg_max, config.box_weight, config.cls_weight, config.dfl_weight
    )
    schedule = Schedule(
        lr0=lr0,
        lrf=config.lrf,
        warmup=config.warmup,
        momentum=config.momentum,
        close_mosaic=config.close_mosaic,
    )

    train_set_loader = build_loader(
        train_ds,
        config.imgsz,
        config.batch,
        config.augment,
        shuffle=True,
        seed=config.seed,
        workers=config.workers,
    )
    iters_per_epoch = len(train_set_loader)
    epoch, iteration, history, best_fitness, stale = 0, 0, [], -1.0, 0
    elapsed_before = 0.0
    if state:
        optimizer.load_state_dict(state["optimizer"])
        ema.load_state_dict(state["ema"])
        epoch, iteration = state["epoch"], state["iteration"]
        history, best_fitness, stale = state["history"], state["best_fitness"], state["stale"]
        elapsed_before = state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        console.print(f"Resuming [bold]{run_dir}[/] after epoch {epoch} (iteration {iteration})")

    # In time mode, keep back what the final evaluation and plots will take.
    reserve = 0.0
    if config.time is not None:
        reserve = min(0.1 * config.time, 4.0 + 0.02 * config.time)
    budget = (
        Budget(seconds=config.time, elapsed_before=elapsed_before, reserve=reserve)
        if config.time is not None
        else Budget(total_iters=config.epochs * iters_per_epoch)
    )
    info = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "yolops": __version__,
        "optimizer": opt_name,
        "lr0": lr0,
        "dataset": ds.name,
        "dataset_hash": ds.content_hash(),
        "dataset_root": str(ds.root or ""),
        "train_images": len(train_ds),
        "val_images": len(val_ds),
        **{f"model_{k}": v for k, v in model.info(config.imgsz).items()},
    }
    for cb in callbacks:
        cb.on_train_start(run_dir, config, info)
    # int(): what "%d" printed, should a config give a float number of epochs
    length = f"budget {config.time:.0f} s" if config.time else f"{int(config.epochs)} epochs"
    console.print(
        f"Training yolops-{config.scale} ({info.get('model_params', 0) / 1e6:.2f} M params, "
        f"{info.get('model_gflops', 0):.2f} GFLOPs at {config.imgsz}) on "
        f"{len(train_ds)} images, validating on {len(val_ds)} ({config.val_split}), {device}, "
        f"{length} -> [bold]{run_dir}[/]"
    )

    train_images, train_seconds, stopped = 0, 0.0, "completed"
    last_val_seconds = 0.0
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        budget_task = (
            progress.add_task(f"time budget {config.time:.0f} s", total=100)
            if budget.timed
            else None
        )
        while True:
            p = budget.progress(iteration)
            if (not budget.timed and epoch >= config.epochs) or (budget.timed and p >= 1.0):
                stopped = "time" if budget.timed else "completed"
                break
            train_set_loader.dataset.set_epoch(epoch)
            train_set_loader.dataset.set_mosaic(schedule.mosaic_on(p))
            label = f"epoch {epoch + 1}" + ("" if budget.timed else f"/{config.epochs}")
            task = progress.add_task(label, total=iters_per_epoch)
            t0 = time.perf_counter()
            metrics, iteration, seen, out_of_time = train_one_epoch(
                model,
                ema,
                train_set_loader,
                loss_fn,
                optimizer,
                schedule,
                budget,
                iteration,
                config.grad_clip,
                device,
                progress,
                task,
                label,
                budget_task,
            )
            train_seconds += time.perf_counter() - t0
            train_images += seen
            progress.remove_task(task)
            epoch += 1
            last_epoch = (
                out_of_time
                or (not budget.timed and epoch >= config.epochs)
                or (budget.timed and budget.progress(iteration) >= 1.0)
            )
            if epoch % config.val_interval == 0 or last_epoch:
                t1 = time.perf_counter()
                result, _ = evaluate_model(ema.module, val_ds, config.imgsz, config.batch, device)
                last_val_seconds = time.perf_counter() - t1
                metrics.update(result.to_metrics("val/"))
                if budget.timed:  # final val + plots take about one validation more
                    budget.reserve = max(reserve, 2.0 * last_val_seconds + 2.0)
            metrics = {"epoch": epoch, "time": round(budget.elapsed(), 2), **metrics}
            history.append(metrics)
            write_metrics_csv(run_dir / "metrics.csv", history)
            improved = "val/map50_95" in metrics and _fitness(metrics) > best_fitness
            if improved:
                best_fitness, stale = _fitness(metrics), 0
            elif "val/map50_95" in metrics:
                stale += 1
            ckpt = _checkpoint_state(
                config,
                run_dir,
                ds,
                model,
                ema,
                optimizer,
                epoch,
                iteration,
                history,
                best_fitness,
                stale,
                budget.elapsed(),
            )
            save_checkpoint(weights_dir / "last.pt", ckpt)
            if improved or not (weights_dir / "best.pt").exists():
                save_checkpoint(weights_dir / "best.pt", _inference_state(ckpt))
            progress.console.print(_epoch_line(metrics))
            for cb in callbacks:
                cb.on_epoch_end(epoch, metrics)
            if out_of_time:
                stopped = "time"
                break
            if stale >= config.patience:
                stopped = "early_stopping"
                console.print(f"Stopping early: no improvement in {config.patience} validations")
                break

    final = finish(run_dir, ds, config, device, history, console)
    result = TrainResult(
        run_dir=run_dir,
        best=weights_dir / "best.pt",
        last=weights_dir / "last.pt",
        epochs=epoch,
        metrics=final,
        history=history,
        seconds=time.perf_counter() - wall_start + elapsed_before,
        train_images_per_second=train_images / max(train_seconds, 1e-9),
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        stopped=stopped,
    )
    for cb in callbacks:
        cb.on_train_end(result)
    console.print(
        f"[green]Done[/] ({stopped}) after {epoch} epochs in {result.seconds:.0f} s: "
        f"val mAP50-95 {final.get('val/map50_95', float('nan')):.3f}, "
        f"mAP50 {final.get('val/map50', float('nan')):.3f}"
        + (
            f"; test mAP50-95 {final['test/map50_95']:.3f}, mAP50 {final['test/map50']:.3f}"
            if "test/map50_95" in final
            else ""
        )
        + f". Weights: [bold]{weights_dir / 'best.pt'}[/]"
    )
    return result


def _epoch_line(m: dict[str, float]) -> str:
    line = (
        f"epoch {m['epoch']:>3}  {m['time']:>6.0f}s  loss box {m['train/box_loss']:.3f} "
        f"cls {m['train/cls_loss']:.3f} dfl {m['train/dfl_loss']:.3f}  lr {m['lr']:.2e}"
    )
    if "val/map50_95" in m:
        line += f"  val mAP50 {m['val/map50']:.3f} mAP50-95 {m['val/map50_95']:.3f}"
    return line


def _checkpoint_state(
    config: TrainConfig,
    run_dir: Path,
    ds: Dataset,
    model: YOLO,
    ema: ModelEMA,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    iteration: int,
    history: list[dict],
    best_fitness: float,
    stale: int,
    elapsed: float,
) -> dict:
    return {
        "model": ema.module.state_dict(),
        "raw_model": model.state_dict(),
        "ema": ema.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scale": config.scale,
        "class_names": list(ds.class_names),
        "imgsz": config.imgsz,
        "config": config.to_dict(),
        "run_dir": str(run_dir),
        "epoch": epoch,
        "iteration": iteration,
        "history": history,
        "best_fitness": best_fitness,
        "stale": stale,
        "elapsed": elapsed,
        "torch_rng": torch.get_rng_state(),
        "dataset": ds.name,
        "dataset_hash": ds.content_hash(),
        "yolops": __version__,
    }


def _inference_state(ckpt: dict) -> dict:
    """best.pt keeps what prediction needs (EMA weights, classes, size) and the record."""
    keep = (
        "model",
        "scale",
        "class_names",
        "imgsz",
        "config",
        "run_dir",
        "epoch",
        "history",
        "best_fitness",
        "dataset",
        "dataset_hash",
        "yolops",
    )
    return {k: ckpt[k] for k in keep}


def finish(
    run_dir: Path,
    ds: Dataset,
    config: TrainConfig,
    device: torch.device,
    history: list[dict],
    console: Console,
) -> dict[str, float]:
    """Score best.pt on val (and test, when there is one) and draw the plots."""
    from yolops.train import plots

    best = load_checkpoint(run_dir / "weights" / "best.pt")
    model = model_from_checkpoint(best).to(device)
    metrics: dict[str, float] = {}
    for split in dict.fromkeys((config.val_split, "test")):
        if split not in ds.splits or not ds.splits[split]:
            continue
        part = ds.split(split)
        result, predictions = evaluate_model(model, part, config.imgsz, config.batch, device)
        metrics.update(result.to_metrics(f"{split}/"))
        plots.plot_pr_curves(result, run_dir / f"pr_curves_{split}.png")
        plots.plot_confusion_matrix(
            result, list(ds.class_names), run_dir / f"confusion_matrix_{split}.png"
        )
        plots.plot_predictions_grid(part, predictions, run_dir / f"predictions_{split}.png")
    if history:
        plots.plot_training_curves(history, run_dir / "training_curves.png")
    (run_dir / "metrics_final.yaml").write_text(
        yaml.safe_dump({k: float(v) for k, v in metrics.items()})
    )
    return metrics
