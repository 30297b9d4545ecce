"""Resuming a training: which options may change, and how the schedule carries on.

A resumed training runs with the config saved in its checkpoint. Some options may
change on resume because they do not touch what the weights, the optimizer state and
the schedule were made with: how long to train (``epochs``, ``time``), when to stop
early (``patience``), how often to validate (``val_interval``) and where to compute
(``device``, ``workers``, ``threads``). Any other change (data, imgsz, batch, scale,
lr0, augment, ...) is refused: that is a new training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from yolops.errors import ConfigError
from yolops.train.config import TrainConfig, known_options
from yolops.train.schedule import Budget, build_budget

RESUMABLE = ("epochs", "time", "patience", "val_interval", "device", "workers", "threads")


def resumed_config(
    saved: TrainConfig,
    changes: Mapping[str, Any],
    epoch: int,
    elapsed: float,
    source: str = "resume",
) -> tuple[TrainConfig, dict[str, tuple[Any, Any]]]:
    """``saved`` (a checkpoint's config, ``epoch`` epochs and ``elapsed`` seconds in)
    with ``changes`` applied, and what they changed as ``{option: (old, new)}``. A
    change to the value already saved is no change. ConfigError for an unknown option,
    an option that cannot change on resume, fewer epochs than done or a time budget
    already spent."""
    changes = known_options(changes, source)
    if isinstance(changes.get("augment"), Mapping):  # a partial augment mapping updates
        changes["augment"] = {**dataclasses.asdict(saved.augment), **changes["augment"]}
    config = TrainConfig.from_dict({**saved.to_dict(), **changes}, source=source)
    changed = {
        f.name: (getattr(saved, f.name), getattr(config, f.name))
        for f in dataclasses.fields(TrainConfig)
        if getattr(saved, f.name) != getattr(config, f.name)
    }
    fixed = [name for name in changed if name not in RESUMABLE]
    if fixed:
        raise ConfigError(
            f"{source}: {', '.join(_describe(n, *changed[n]) for n in fixed)}: "
            f"{'this option' if len(fixed) == 1 else 'these options'} cannot change on "
            "resume (the weights, optimizer state and schedule were made with the saved "
            "values); start a new training instead. A resume may change "
            f"{', '.join(RESUMABLE)}."
        )
    if config.time is None and config.epochs < epoch:
        raise ConfigError(
            f"{source}: epochs {config.epochs} is fewer than the {epoch} already done; "
            f"give at least {epoch}"
        )
    if "time" in changed and config.time is not None and config.time <= elapsed:
        raise ConfigError(
            f"{source}: a time budget of {config.time:g} s is already spent "
            f"({elapsed:.0f} s trained); give more"
        )
    return config, changed


def resumed_budget(
    saved: TrainConfig, config: TrainConfig, iters_per_epoch: int, state: Mapping[str, Any]
) -> Budget:
    """The budget a resumed training continues under (``state``: its checkpoint).

    Warmup, LR decay and mosaic closing are functions of progress, the share of the
    budget spent. Unchanged epochs and time give the saved budget itself: progress
    ``iteration / total`` (or seconds over the budget), so the resumed run is
    bit-for-bit the uninterrupted one. A new length would rescale that share and make
    the schedule jump (more epochs: the LR back up the cosine, mosaic back on). Instead
    the budget is anchored where the run stands: progress starts at the value it had
    under the old budget and runs linearly to 1 at the end of the new one. The LR goes
    on from where it was, decaying more slowly (more epochs or time) or faster (fewer);
    mosaic closes for the last ``close_mosaic`` of progress as before. A run that had
    already finished its schedule (progress 1) trains its extension at the final LR,
    ``lr0 * lrf``, without mosaic: a fine-tune, never a restart. The anchor is saved in
    ``last.pt`` so that a later resume continues the same schedule."""
    anchor = tuple(state.get("schedule_anchor", (0, 0.0)))
    old = build_budget(saved, iters_per_epoch, state["elapsed"], anchor)
    if _length(saved) == _length(config):
        return old
    before = state["elapsed"] if saved.time is not None else state["iteration"]
    here = state["elapsed"] if config.time is not None else state["iteration"]
    return build_budget(
        config, iters_per_epoch, state["elapsed"], anchor=(here, old.progress_at(before))
    )


def _length(config: TrainConfig) -> tuple[str, float]:
    return ("time", config.time) if config.time is not None else ("epochs", config.epochs)


def _describe(name: str, old: Any, new: Any) -> str:
    if dataclasses.is_dataclass(old):
        diff = [
            f"{f.name} {getattr(old, f.name)!r} -> {getattr(new, f.name)!r}"
            for f in dataclasses.fields(old)
            if getattr(old, f.name) != getattr(new, f.name)
        ]
        return f"{name} ({', '.join(diff)})"
    return f"{name} ({old!r} -> {new!r})"
