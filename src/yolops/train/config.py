"""TrainConfig: every knob of a training, frozen, loadable from YAML."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from yolops import safe_yaml
from yolops.errors import ConfigError
from yolops.train.augment import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``time`` (seconds) turns the schedule into a wall-clock budget:
    warmup, LR decay and mosaic closing follow the share of the budget spent, and the
    whole run (including final evaluation) ends within it."""

    data: str = ""
    scale: str = "n"  # a scale of yolops.model.yolo.SCALES
    imgsz: int = 320
    epochs: int = 30
    time: float | None = None  # wall-clock budget in seconds; overrides epochs
    batch: int = 16
    optimizer: str = "auto"  # auto | sgd | adamw
    lr0: float = 0.0  # 0 = the optimizer's default (sgd 0.01, adamw 0.002)
    lrf: float = 0.01  # final LR as a fraction of lr0
    momentum: float = 0.937
    weight_decay: float = 5e-4
    warmup: float = 0.05  # share of the schedule spent warming up
    close_mosaic: float = 0.15  # share of the schedule, at the end, without mosaic
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0  # EMA warms up over about this many updates
    grad_clip: float = 10.0
    patience: int = 50  # epochs without val improvement before stopping
    box_weight: float = 7.5
    cls_weight: float = 0.5
    dfl_weight: float = 1.5
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    workers: int = 0
    threads: int = 0  # CPU threads for torch; 0 = all cores
    val_interval: int = 1  # validate every N epochs (and always at the end)
    val_split: str = "val"
    project: str = ""  # folder of run folders; empty = the workspace's runs/train
    name: str = ""  # run folder name; empty = exp, exp2, ...
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.imgsz <= 0 or self.imgsz % 32:
            raise ConfigError(f"imgsz must be a positive multiple of 32, got {self.imgsz}")
        if self.batch <= 0:
            raise ConfigError(f"batch must be positive, got {self.batch}")
        if self.time is None and self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if self.time is not None and self.time <= 0:
            raise ConfigError(f"time must be positive seconds, got {self.time}")
        if self.optimizer not in ("auto", "sgd", "adamw"):
            raise ConfigError(f"optimizer must be auto, sgd or adamw, got {self.optimizer!r}")
        for name in ("warmup", "close_mosaic"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(
                    f"{name} is a share of the schedule in [0, 1), got {getattr(self, name)}"
                )

    def replace(self, **changes: Any) -> TrainConfig:
        """This config with ``changes``; a misspelt option is a ConfigError naming the
        valid ones, and ``model`` is taken as the old name of ``scale``."""
        return dataclasses.replace(self, **known_options(changes, "training options"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def non_defaults(self) -> dict[str, Any]:
        """The options this config sets to something other than their default."""
        default = TrainConfig()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        values = known_options(values, source)
        if isinstance(values.get("augment"), Mapping):
            aug_known = {f.name for f in fields(AugmentConfig)}
            bad = sorted(set(values["augment"]) - aug_known)
            if bad:
                raise ConfigError(f"{source}: unknown augmentation option(s) {bad}")
            values["augment"] = AugmentConfig(**values["augment"])
        try:
            return cls(**values)
        except TypeError as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            values = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read training config: {e}") from None
        if not isinstance(values, Mapping):
            raise ConfigError(f"{path}: a training config is a mapping of option: value")
        return cls.from_dict(values, source=str(path))


# Options renamed since configs and checkpoints were first written: old -> new name.
# ``model`` meant a scale (n, s, m) while "model" means a model reference everywhere else.
RENAMED = {"model": "scale"}


def known_options(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` with old option names renamed; a ConfigError for an unknown name, with
    the closest valid one when there is one and the full list."""
    out = dict(values)
    for old, new in RENAMED.items():
        if old in out:
            value = out.pop(old)
            if new in out and out[new] != value:
                raise ConfigError(
                    f"{source}: {old!r} is the old name of {new!r}; give {new!r} only"
                )
            out.setdefault(new, value)
    known = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(out) - set(known))
    if unknown:
        hints = [
            f"{name!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(name, known, n=1))
            else repr(name)
            for name in unknown
        ]
        raise ConfigError(
            f"{source}: unknown training option(s) {', '.join(hints)}; "
            f"the options are {', '.join(known)}"
        )
    return out
