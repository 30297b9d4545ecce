"""The training engine: a few thin functions around the model, loss and loader.

A training is four steps over one :class:`Run`, the state it carries from epoch to
epoch: :func:`setup` builds a new run (device, data, run folder, model, optimizer,
loss, schedule, loader, budget), or :func:`restore` rebuilds one from its ``last.pt``;
:func:`loop` trains epoch after epoch (:func:`train_one_epoch`), validates the EMA
weights, keeps ``last.pt`` and ``best.pt`` and stops early; :func:`finish` scores
``best.pt`` and draws the plots. What a user sees or a tracker records goes out as
plain events to callbacks (:mod:`yolops.train.callbacks`); the terminal display is
one of them (:class:`~yolops.train.display.RichProgress`).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from yolops._version import __version__
from yolops.data.dataset import Dataset, load_dataset
from yolops.device import select_device
from yolops.errors import ConfigError, YolopsError
from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint
from yolops.model.loss import DetectionLoss, LossParts
from yolops.model.yolo import build_model
from yolops.train.callbacks import CallbackList, TrainCallback
from yolops.train.config import TrainConfig
from yolops.train.cpu_share import CpuShare
from yolops.train.display import RichProgress
from yolops.train.ema import ModelEMA
from yolops.train.evaluation import evaluate_model, score_run
from yolops.train.loader import Batch, build_loader
from yolops.train.optim import apply_schedule, build_optimizer, resolve_optimizer
from yolops.train.resume import resumed_budget, resumed_config
from yolops.train.run_folder import new_run_dir, save_checkpoints, write_metrics_csv
from yolops.train.schedule import Schedule, build_budget, time_reserve
from yolops.train.state import Counters, Run, TrainResult
from yolops.workspace import Workspace

__all__ = ["Run", "TrainCallback", "TrainResult", "resume", "train"]


def train(
    config: TrainConfig | None,
    dataset: Dataset | None = None,
    callbacks: Iterable[TrainCallback] = (),
    resume: str | Path | None = None,
    console: Console | None = None,
    *,
    progress: bool = True,
    workspace: Workspace | None = None,
) -> TrainResult:
    """Train a yolops detector; see :class:`TrainConfig`. ``dataset`` replaces
    ``config.data``. The run folder goes under ``config.project``, or when that is empty
    under the runs folder of ``workspace`` (default :meth:`Workspace.resolve`).
    ``progress`` shows the training on ``console`` (a :class:`RichProgress` listening
    before ``callbacks``); with ``progress=False`` nothing is printed.

    ``resume``: a ``last.pt`` to continue instead, as :func:`resume` does, with the
    options ``config`` sets to other than their default as the changes."""
    events = _events(callbacks, console, progress)
    if resume is not None:
        changes = config.non_defaults() if config is not None else {}
        return _complete(restore(resume, changes, dataset, events))
    if config is None:
        raise ConfigError("give a training config (or a checkpoint to resume)")
    return _complete(setup(config, dataset, events, workspace))


def resume(
    checkpoint: str | Path,
    changes: Mapping[str, Any] | None = None,
    dataset: Dataset | None = None,
    callbacks: Iterable[TrainCallback] = (),
    console: Console | None = None,
    *,
    progress: bool = True,
) -> TrainResult:
    """Continue the training saved in ``checkpoint`` (its ``last.pt``) in its own run
    folder with its own config, except for ``changes`` ({option: value}): ``epochs``
    (at least those done), ``time``, ``patience``, ``val_interval``, ``device``,
    ``workers`` and ``threads`` may change; any other option is a ConfigError (see
    :mod:`yolops.train.resume`, which also says how the schedule carries on)."""
    events = _events(callbacks, console, progress)
    return _complete(restore(checkpoint, changes or {}, dataset, events))


def _events(
    callbacks: Iterable[TrainCallback], console: Console | None, progress: bool
) -> CallbackList:
    listeners = list(callbacks)
    if progress and not any(isinstance(cb, RichProgress) for cb in listeners):
        listeners.insert(0, RichProgress(console))
    return CallbackList(listeners)


def _complete(run: Run) -> TrainResult:
    """Start, loop and finish ``run``; listeners hear of an exception before it goes on."""
    try:
        start(run)
        loop(run)
        return finish(run)
    except BaseException as error:
        run.events.on_train_error(error)
        raise


# -- setup and restore ---------------------------------------------------------------------


def setup(
    config: TrainConfig,
    dataset: Dataset | None,
    events: TrainCallback,
    workspace: Workspace | None = None,
    state: Mapping[str, Any] | None = None,
) -> Run:
    """A new training: device, data, run folder (with config.yaml), model, optimizer,
    EMA, loss, schedule, loader and budget. Given a checkpoint's ``state``, the run
    folder and the model come from it instead (:func:`restore` loads the rest)."""
    started = time.perf_counter()
    device = select_device(config.device, config.threads)
    torch.manual_seed(config.seed)
    ds, train_ds = prepare_data(config, dataset, events.on_note, workspace)
    if state is None:
        config, run_dir = new_run_dir(config, workspace)
        model = build_model(config.scale, ds.num_classes)
    else:
        run_dir = Path(state["run_dir"])
        (run_dir / "weights").mkdir(parents=True, exist_ok=True)
        model = model_from_checkpoint({**state, "model": state["raw_model"]})
    model = model.to(device)
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
    loader = build_loader(
        train_ds,
        config.imgsz,
        config.batch,
        config.augment,
        shuffle=True,
        seed=config.seed,
        workers=config.workers,
    )
    return Run(
        config=config,
        run_dir=run_dir,
        data=ds,
        val_data=ds.split(config.val_split),
        device=device,
        model=model,
        ema=ema,
        optimizer=optimizer,
        loss_fn=loss_fn,
        schedule=schedule,
        loader=loader,
        budget=build_budget(config, len(loader)),
        events=events,
        started=started,
        cpu_share=_cpu_share(device, config),
    )


def _cpu_share(device: torch.device, config: TrainConfig) -> CpuShare | None:
    """On the CPU with the thread count left to us: threads that follow the CPU other
    processes leave (see :mod:`yolops.train.cpu_share`)."""
    if device.type != "cpu" or config.threads:
        return None
    share = CpuShare(torch.get_num_threads(), torch.set_num_threads)
    return share if share.active else None


def restore(
    checkpoint: str | Path,
    changes: Mapping[str, Any],
    dataset: Dataset | None,
    events: TrainCallback,
) -> Run:
    """The run saved in ``checkpoint`` (a ``last.pt``) with ``changes`` to its options,
    its weights, optimizer, EMA, counters and random state loaded: it goes on exactly
    where it stopped (and on the anchored schedule of :mod:`yolops.train.resume` when
    its length changes)."""
    state = load_checkpoint(checkpoint)
    if "optimizer" not in state:
        raise YolopsError(
            f"{checkpoint}: holds no training state to resume (is it a best.pt export?)"
        )
    saved = TrainConfig.from_dict(state["config"], source=str(checkpoint))
    config, changed = resumed_config(
        saved, changes, state["epoch"], state["elapsed"], source=str(checkpoint)
    )
    run = setup(config, dataset, events, state=state)
    run.optimizer.load_state_dict(state["optimizer"])
    run.ema.load_state_dict(state["ema"])
    run.counters = Counters(
        state["epoch"], state["iteration"], state["history"], state["best_fitness"], state["stale"]
    )
    torch.set_rng_state(state["torch_rng"])
    run.budget = resumed_budget(saved, config, len(run.loader), state)
    events.on_resume(run.run_dir, run.counters.epoch, run.counters.iteration, changed)
    return run


def prepare_data(
    config: TrainConfig,
    dataset: Dataset | None,
    note: Callable[[str], None],
    workspace: Workspace | None = None,
) -> tuple[Dataset, Dataset]:
    """The dataset (``dataset``, else loaded from ``config.data``: a path or a dataset
    version of ``workspace``) and its train split; a dataset without splits is split
    80/20. ``note`` hears what the user should know."""
    ds = dataset if dataset is not None else load_dataset(config.data, workspace=workspace)
    if ds.issues.at_least("error"):
        note(
            f"{len(ds.issues.at_least('error'))} record(s) were set aside while loading; "
            "run `yolops data stats` for the list"
        )
    if "train" not in ds.splits:
        if ds.splits:
            raise ConfigError(
                f"dataset {ds.name!r} has no 'train' split (it has {', '.join(ds.splits)})"
            )
        ds = ds.random_split({"train": 0.8, "val": 0.2}, seed=config.seed)
        note(f"dataset {ds.name!r} has no splits; split it 80/20 (seed {config.seed})")
    if config.val_split not in ds.splits:
        raise ConfigError(
            f"dataset {ds.name!r} has no {config.val_split!r} split to validate on "
            f"(it has {', '.join(ds.splits)}); choose one with val_split"
        )
    train_ds = ds.split("train")
    if len(train_ds) == 0:
        raise ConfigError(f"dataset {ds.name!r}: the train split is empty")
    return ds, train_ds


# -- the loop ------------------------------------------------------------------------------


def start(run: Run) -> None:
    """Tell the listeners what runs, where and on what (``on_train_start``)."""
    config, ds = run.config, run.data
    info = {
        "device": str(run.device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "yolops": __version__,
        "optimizer": resolve_optimizer(config)[0],
        "lr0": run.schedule.lr0,
        "dataset": ds.name,
        "dataset_hash": ds.content_hash(),
        "dataset_root": str(ds.root or ""),
        "dataset_version": ds.version.ref if ds.version else "",
        "dataset_digest": ds.version.digest if ds.version else ds.content_hash(),
        "train_images": len(ds.split("train")),
        "val_images": len(run.val_data),
        **{f"model_{k}": v for k, v in run.model.info(config.imgsz).items()},
    }
    run.events.on_train_start(run.run_dir, config, info)


def loop(run: Run) -> None:
    """Epochs until the budget is spent or validation stops improving: train, validate
    every ``val_interval`` epochs and after the last, record and checkpoint."""
    c, config = run.counters, run.config
    while not _spent(run):
        run.loader.dataset.set_epoch(c.epoch)
        run.loader.dataset.set_mosaic(run.schedule.mosaic_on(run.budget.progress(c.iteration)))
        metrics, out_of_time = train_one_epoch(run)
        c.epoch += 1
        if c.epoch % config.val_interval == 0 or out_of_time or _spent(run):
            metrics.update(validate(run))
        record_epoch(run, metrics)
        if out_of_time:
            run.stopped = "time"
            return
        if c.stale >= config.patience:
            run.stopped = "early_stopping"
            return
    run.stopped = "time" if run.budget.timed else "completed"


def _spent(run: Run) -> bool:
    if run.budget.timed:
        return run.budget.spent(run.counters.iteration)
    return run.counters.epoch >= run.config.epochs


def train_one_epoch(run: Run) -> tuple[dict[str, float], bool]:
    """One pass over the loader. Returns the epoch's mean losses and last LR, and
    whether the time budget ran out mid-epoch."""
    c, budget = run.counters, run.budget
    epoch = c.epoch + 1
    run.events.on_epoch_start(epoch, len(run.loader))
    run.model.train()
    sums = {"box": 0.0, "cls": 0.0, "dfl": 0.0}
    steps, images, out_of_time = 0, 0, False
    start_time = time.perf_counter()
    for batch in run.loader:
        p = budget.progress(c.iteration)
        if budget.timed and budget.spent(c.iteration):
            out_of_time = True
            break
        parts = train_step(run, batch, p)
        if run.cpu_share is not None:
            run.cpu_share.tick()
        c.iteration += 1
        steps += 1
        images += len(batch.image_ids)
        for k in sums:
            sums[k] += float(getattr(parts, k))
        losses = {f"train/{k}_loss": v / steps for k, v in sums.items()}
        speed = images / max(time.perf_counter() - start_time, 1e-9)
        run.events.on_batch_end(epoch, steps, losses, speed, budget.progress(c.iteration))
    run.train_images += images
    run.train_seconds += time.perf_counter() - start_time
    metrics = {f"train/{k}_loss": v / max(steps, 1) for k, v in sums.items()}
    metrics["lr"] = run.optimizer.param_groups[1]["lr"]
    return metrics, out_of_time


def train_step(run: Run, batch: Batch, progress: float) -> LossParts:
    """One optimizer step with the schedule at ``progress``, then the EMA update."""
    apply_schedule(run.optimizer, run.schedule, progress)
    parts = run.loss_fn(run.model(batch.images.to(run.device)), batch.targets.to(run.device))
    run.optimizer.zero_grad(set_to_none=True)
    parts.total.backward()
    if run.config.grad_clip > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), run.config.grad_clip)
    run.optimizer.step()
    run.ema.update(run.model)
    return parts


def validate(run: Run) -> dict[str, float]:
    """The EMA weights' ``val/`` metrics."""
    t0 = time.perf_counter()
    config = run.config
    result, _ = evaluate_model(run.ema.module, run.val_data, config.imgsz, config.batch, run.device)
    if run.budget.timed:  # final val + plots take about one validation more
        spent = time.perf_counter() - t0
        run.budget.reserve = max(time_reserve(config.time), 2.0 * spent + 2.0)
    return result.to_metrics("val/")


def record_epoch(run: Run, metrics: dict[str, float]) -> None:
    """Add the epoch to the history and metrics.csv, follow the best fitness, save
    ``last.pt`` (and ``best.pt`` when it improved), then tell the listeners."""
    c = run.counters
    metrics = {"epoch": c.epoch, "time": round(run.budget.elapsed(), 2), **metrics}
    c.history.append(metrics)
    write_metrics_csv(run.run_dir / "metrics.csv", c.history)
    improved = "val/map50_95" in metrics and _fitness(metrics) > c.best_fitness
    if improved:
        c.best_fitness, c.stale = _fitness(metrics), 0
    elif "val/map50_95" in metrics:
        c.stale += 1
    save_checkpoints(run, improved)
    run.events.on_epoch_end(c.epoch, metrics)


def _fitness(metrics: dict[str, float]) -> float:
    return 0.9 * metrics.get("val/map50_95", 0.0) + 0.1 * metrics.get("val/map50", 0.0)


def finish(run: Run) -> TrainResult:
    """Score ``best.pt``, draw the plots, and tell the listeners the result."""
    final = score_run(run.run_dir, run.data, run.config, run.device, run.counters.history)
    weights = run.run_dir / "weights"
    result = TrainResult(
        run_dir=run.run_dir,
        best=weights / "best.pt",
        last=weights / "last.pt",
        epochs=run.counters.epoch,
        metrics=final,
        history=run.counters.history,
        seconds=time.perf_counter() - run.started + run.budget.elapsed_before,
        train_images_per_second=run.train_images / max(run.train_seconds, 1e-9),
        peak_memory_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        stopped=run.stopped,
    )
    run.events.on_train_end(result)
    return result
