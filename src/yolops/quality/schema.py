"""A dataset schema: what valid data looks like, inferred from data and then edited by a person.

Like TensorFlow Data Validation's schema, for detection: the class list, image
formats, PIL modes and sizes, boxes per image, and per class the range of box
width, height, area and aspect ratio and the class's share of all boxes. Ranges
come from robust quantiles (``low_quantile`` .. ``high_quantile``) widened by a
margin, so a handful of outliers do not set them. The schema is saved as a small
YAML file meant to be read and changed by hand; :mod:`yolops.quality.checks`
validates a dataset against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from yolops import safe_yaml
from yolops.data.dataset import Dataset
from yolops.data.images import probe_image
from yolops.errors import ConfigError, ImageReadError

SCHEMA_VERSION = 1
BOX_MEASURES = ("width", "height", "area", "aspect")  # px, px, px², w/h


@dataclass(frozen=True)
class Range:
    """A closed interval ``[low, high]``; either end may be infinite (no bound)."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_list(self) -> list:
        return [_yaml_number(self.low), _yaml_number(self.high)]

    @classmethod
    def from_list(cls, values: Iterable, what: str) -> Range:
        try:
            low, high = (_read_number(v) for v in values)
        except (TypeError, ValueError):
            raise ConfigError(
                f"schema: {what} must be a list [low, high] of numbers, got {values!r}"
            ) from None
        if low > high:
            raise ConfigError(f"schema: {what} has low {low} > high {high}")
        return cls(low, high)

    def __str__(self) -> str:
        return f"[{_fmt(self.low)}, {_fmt(self.high)}]"


@dataclass(frozen=True)
class ClassSchema:
    """Expected boxes of one class: ``share`` of all boxes (0..1) and a :class:`Range`
    per measure in :data:`BOX_MEASURES`."""

    share: float
    width: Range
    height: Range
    area: Range
    aspect: Range

    def range_of(self, measure: str) -> Range:
        return getattr(self, measure)


@dataclass(frozen=True)
class SchemaConfig:
    """How ranges are inferred: the ``[low_quantile, high_quantile]`` range of the
    data, widened by ``margin`` as a factor (low / (1 + margin), high x (1 + margin));
    sizes are positive and spread multiplicatively, so the margin is a factor too."""

    low_quantile: float = 0.01
    high_quantile: float = 0.99
    margin: float = 0.25


@dataclass(frozen=True)
class Schema:
    """What valid data looks like. Mappings are keyed by class name in class order;
    treat them as read-only."""

    class_names: tuple[str, ...]
    image_formats: tuple[str, ...]  # PIL format names: JPEG, PNG, ...
    image_modes: tuple[str, ...]  # PIL modes: RGB (3 channels), L (grey), RGBA, ...
    image_width: Range  # px
    image_height: Range  # px
    boxes_per_image: Range
    classes: Mapping[str, ClassSchema] = field(default_factory=dict)

    # -- YAML ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "version": SCHEMA_VERSION,
            "class_names": list(self.class_names),
            "images": {
                "formats": list(self.image_formats),
                "modes": list(self.image_modes),
                "width": self.image_width.to_list(),
                "height": self.image_height.to_list(),
            },
            "boxes_per_image": self.boxes_per_image.to_list(),
            "classes": {
                name: {
                    "share": c.share,
                    **{m: c.range_of(m).to_list() for m in BOX_MEASURES},
                }
                for name, c in self.classes.items()
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Schema:
        if not isinstance(d, Mapping) or d.get("version") != SCHEMA_VERSION:
            raise ConfigError(f"schema: expected a mapping with version: {SCHEMA_VERSION}")
        try:
            images, classes = d["images"], d.get("classes") or {}
            names = tuple(str(n) for n in d["class_names"])
            return cls(
                class_names=names,
                image_formats=tuple(str(f) for f in images.get("formats") or ()),
                image_modes=tuple(str(m) for m in images.get("modes") or ()),
                image_width=Range.from_list(images["width"], "images.width"),
                image_height=Range.from_list(images["height"], "images.height"),
                boxes_per_image=Range.from_list(d["boxes_per_image"], "boxes_per_image"),
                classes={
                    str(name): ClassSchema(
                        share=float(c.get("share", 0.0)),
                        **{m: Range.from_list(c[m], f"classes.{name}.{m}") for m in BOX_MEASURES},
                    )
                    for name, c in classes.items()
                },
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"schema: missing or malformed entry {e}") from None

    def to_yaml(self) -> str:
        header = (
            "# yolops dataset schema: what valid data looks like. Edit freely.\n"
            "# Ranges are [low, high]; .inf means no bound. Box sizes are in pixels of the\n"
            "# original image (area px², aspect = width / height); share = fraction of boxes.\n"
        )
        # default_flow_style=None: leaf lists inline, so a range reads as [low, high].
        return header + yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, width=100, default_flow_style=None
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_yaml(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        path = Path(path)
        try:
            data = safe_yaml.load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{path}: cannot read schema: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: schema is not UTF-8 text: {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: schema is not valid YAML: {e}") from None
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None


# -- inference ---------------------------------------------------------------------------


def infer_schema(
    ds: Dataset,
    config: SchemaConfig = SchemaConfig(),
    image_info: Mapping[str, tuple[str, str]] | None = None,
) -> Schema:
    """The schema of ``ds``. ``image_info`` maps image id to (format, mode) when
    already known (e.g. from :func:`yolops.quality.images.scan_images`); otherwise
    each image header is read. Unreadable images are left out here (the checks
    report them)."""
    info = dict(image_info) if image_info is not None else _probe_all(ds)
    widths = np.array([r.width for r in ds], np.float64)
    heights = np.array([r.height for r in ds], np.float64)
    counts = np.array([len(r) for r in ds], np.float64)
    boxes = np.concatenate([r.boxes for r in ds] or [np.zeros((0, 4), np.float32)])
    classes = np.concatenate([r.classes for r in ds] or [np.zeros(0, np.int64)])
    measures = box_measures(boxes)
    total = max(len(classes), 1)
    per_class = {}
    for k, name in enumerate(ds.class_names):
        mine = (classes == k) & measures["proper"]
        per_class[name] = ClassSchema(
            # 4 decimals: readable in the YAML, and what is saved is what was inferred
            share=round(float(np.sum(classes == k) / total), 4),
            **{m: _robust_range(measures[m][mine], config) for m in BOX_MEASURES},
        )
    return Schema(
        class_names=ds.class_names,
        image_formats=tuple(sorted({f for f, _ in info.values()})),
        image_modes=tuple(sorted({m for _, m in info.values()})),
        image_width=_robust_range(widths, config, integer=True),
        image_height=_robust_range(heights, config, integer=True),
        boxes_per_image=_robust_range(counts, config, integer=True),
        classes=per_class,
    )


def box_measures(boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Width, height (px), area (px²), aspect (w/h) of (N, 4) xyxy boxes, each (N,),
    and ``proper`` (N,) bool: width and height > 0 (area and aspect are 0 otherwise)."""
    w = (boxes[:, 2] - boxes[:, 0]).astype(np.float64)
    h = (boxes[:, 3] - boxes[:, 1]).astype(np.float64)
    proper = (w > 0) & (h > 0)
    area = np.where(proper, w * h, 0.0)
    aspect = np.divide(w, h, out=np.zeros_like(w), where=proper)
    return {"width": w, "height": h, "area": area, "aspect": aspect, "proper": proper}


def _robust_range(values: np.ndarray, config: SchemaConfig, integer: bool = False) -> Range:
    """``[q_low / (1 + margin), q_high x (1 + margin)]`` of non-negative values;
    unbounded when there are none. Counts (``integer``) round outwards."""
    if len(values) == 0:
        return Range(0.0, math.inf)
    low, high = np.quantile(values, [config.low_quantile, config.high_quantile])
    low, high = low / (1 + config.margin), high * (1 + config.margin)
    if integer:
        return Range(float(math.floor(low)), float(math.ceil(high)))
    return Range(_round_sig(low, math.floor), _round_sig(high, math.ceil))


def _round_sig(v: float, direction, digits: int = 3) -> float:
    """``v`` to ``digits`` significant digits, rounded in ``direction`` (floor or
    ceil) so the range never shrinks: a readable YAML, the same bounds."""
    if v == 0 or not math.isfinite(v):
        return float(v)
    scale = 10 ** (digits - 1 - math.floor(math.log10(abs(v))))
    return direction(v * scale) / scale


def _probe_all(ds: Dataset) -> dict[str, tuple[str, str]]:
    out = {}
    for r in ds:
        try:
            info = probe_image(r.path)
        except ImageReadError:
            continue
        out[r.id] = (info.format, info.mode)
    return out


def _yaml_number(v: float) -> float | int:
    return int(v) if math.isfinite(v) and v == int(v) else v


def _read_number(v) -> float:
    if isinstance(v, str) and v.strip().lower() in ("inf", "+inf", ".inf", "infinity"):
        return math.inf
    return float(v)


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else ("inf" if v > 0 else "-inf")
