"""Drift between a reference dataset and a current one, feature by feature.

Features: the class mix (boxes per class), boxes per image, box width, height, area
and aspect ratio, and the image statistics of :func:`yolops.quality.images.image_stats`
(brightness, contrast, sharpness, entropy, width, height).

A feature drifts when the change is both large and real:

- class mix: Jensen-Shannon distance (base 2, 0..1) > ``js`` and chi-square test
  p-value < ``alpha``;
- numeric features: population stability index (PSI, over ``bins`` quantile bins
  of the reference) > ``psi`` and two-sample Kolmogorov-Smirnov p-value < ``alpha``.

The effect size alone misfires on small samples (PSI of two samples of 50 from one
distribution is ~0.3 with 10 bins) and the test alone on large ones (any tiny shift
is "significant" over 100k boxes); requiring both reads as "a change worth a look".
:func:`numeric_drift` and :func:`categorical_drift` take plain arrays, so live
monitoring can call them on logged statistics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp

from yolops.data.dataset import Dataset
from yolops.issues import Issue, Severity
from yolops.quality.images import ImageScan, scan_images
from yolops.quality.schema import box_measures

IMAGE_FEATURES = ("brightness", "contrast", "sharpness", "entropy", "width", "height")
UNITS = {
    "box width": "px",
    "box height": "px",
    "box area": "px²",
    "image width": "px",
    "image height": "px",
}
DISCRETE_LIMIT = 20  # at most this many distinct values: bin by value, not by quantile


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.01  # test p-value below which a change is significant
    psi: float = 0.2  # PSI above which a numeric feature drifted (0.1 small, 0.25 large)
    js: float = 0.1  # Jensen-Shannon distance above which the class mix drifted
    bins: int = 10  # PSI bins, cut at quantiles of the reference
    image_features: tuple[str, ...] = IMAGE_FEATURES


@dataclass(frozen=True, eq=False)
class FeatureDrift:
    """The verdict on one feature. ``statistic`` (PSI or JS distance) is compared with
    ``threshold``; ``p_value`` comes from ``test`` (KS or chi-square). ``reference`` and
    ``current`` hold the values (numeric features) or counts per class (class mix),
    for plots; ``change`` says in words how far the centre moved."""

    feature: str
    statistic: str
    value: float
    threshold: float
    test: str
    p_value: float
    alpha: float
    drifted: bool
    reference_n: int
    current_n: int
    change: str
    reference: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    current: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    labels: tuple[str, ...] = ()  # class names, for the class mix

    def describe(self) -> str:
        """``box area drifted: PSI 0.41 > 0.2 (KS p 3e-06 < 0.01); median 812 -> 1530 px²``."""
        if math.isnan(self.value):
            return f"{self.feature}: not compared ({self.change})"
        sign = ">" if self.value > self.threshold else "<="
        psign = "<" if self.p_value < self.alpha else ">="
        verdict = "drifted" if self.drifted else "no drift"
        return (
            f"{self.feature} {verdict}: "
            f"{self.statistic} {self.value:.3g} {sign} {self.threshold:g} "
            f"({self.test} p {self.p_value:.2g} {psign} {self.alpha:g}); {self.change}"
        )

    def to_dict(self) -> dict:
        return {
            "feature": self.feature,
            "statistic": self.statistic,
            "value": None if math.isnan(self.value) else round(self.value, 6),
            "threshold": self.threshold,
            "test": self.test,
            "p_value": None if math.isnan(self.p_value) else float(f"{self.p_value:.4g}"),
            "alpha": self.alpha,
            "drifted": self.drifted,
            "reference_n": self.reference_n,
            "current_n": self.current_n,
            "change": self.change,
            "description": self.describe(),
        }


@dataclass(frozen=True)
class DriftReport:
    reference: str  # dataset names
    current: str
    features: tuple[FeatureDrift, ...]

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def issues(self) -> list[Issue]:
        """One ``drift`` warning per drifted feature, located at the feature's name."""
        return [
            Issue(
                "drift",
                Severity.WARNING,
                f"{f.describe()} (reference {self.reference!r})",
                location=f.feature,
            )
            for f in self.drifted
        ]

    def to_dict(self) -> dict:
        return {
            "reference": self.reference,
            "current": self.current,
            "drifted": [f.feature for f in self.drifted],
            "features": [f.to_dict() for f in self.features],
        }


# -- datasets ---------------------------------------------------------------------------------


def compare(
    reference: Dataset,
    current: Dataset,
    config: DriftConfig = DriftConfig(),
    reference_scans: Mapping[str, ImageScan] | None = None,
    current_scans: Mapping[str, ImageScan] | None = None,
) -> DriftReport:
    """Every feature of ``current`` against ``reference``. Image statistics come from
    the scans when given; otherwise the images are read (the slow part)."""
    if config.image_features:
        reference_scans = reference_scans if reference_scans is not None else scan_images(reference)
        current_scans = current_scans if current_scans is not None else scan_images(current)
    features = [
        categorical_drift("class mix", reference.class_counts(), current.class_counts(), config),
        numeric_drift(
            "boxes per image", _boxes_per_image(reference), _boxes_per_image(current), config
        ),
    ]
    ref_boxes, cur_boxes = _measures(reference), _measures(current)
    for m in ("width", "height", "area", "aspect"):
        features.append(numeric_drift(f"box {m}", ref_boxes[m], cur_boxes[m], config))
    for name in config.image_features:
        features.append(
            numeric_drift(
                f"image {name}",
                _image_values(reference_scans, name),
                _image_values(current_scans, name),
                config,
            )
        )
    return DriftReport(reference.name, current.name, tuple(features))


def _boxes_per_image(ds: Dataset) -> np.ndarray:
    return np.array([len(r) for r in ds], np.float64)


def _measures(ds: Dataset) -> dict[str, np.ndarray]:
    boxes = np.concatenate([r.boxes for r in ds] or [np.zeros((0, 4), np.float32)])
    m = box_measures(boxes)
    return {k: v[m["proper"]] for k, v in m.items() if k != "proper"}


def _image_values(scans: Mapping[str, ImageScan] | None, name: str) -> np.ndarray:
    return np.array([s.stats[name] for s in (scans or {}).values() if s.ok], np.float64)


# -- features -----------------------------------------------------------------------------------


def numeric_drift(
    feature: str, reference: np.ndarray, current: np.ndarray, config: DriftConfig = DriftConfig()
) -> FeatureDrift:
    """PSI and KS test of two samples of one numeric feature."""
    ref = np.asarray(reference, np.float64).reshape(-1)
    cur = np.asarray(current, np.float64).reshape(-1)
    base = dict(
        feature=feature,
        statistic="PSI",
        threshold=config.psi,
        test="KS",
        alpha=config.alpha,
        reference_n=len(ref),
        current_n=len(cur),
        reference=ref,
        current=cur,
    )
    if len(ref) == 0 or len(cur) == 0:
        return FeatureDrift(
            value=math.nan, p_value=math.nan, drifted=False, change="no values on one side", **base
        )
    value = psi(ref, cur, config.bins)
    p = float(ks_2samp(ref, cur).pvalue)
    unit = UNITS.get(feature, "")
    change = f"median {_num(np.median(ref))} -> {_num(np.median(cur))}{' ' + unit if unit else ''}"
    drifted = value > config.psi and p < config.alpha
    return FeatureDrift(value=value, p_value=p, drifted=drifted, change=change, **base)


def categorical_drift(
    feature: str,
    reference: Mapping[str, int],
    current: Mapping[str, int],
    config: DriftConfig = DriftConfig(),
) -> FeatureDrift:
    """Jensen-Shannon distance and chi-square test of two count tables keyed by
    category (class name); categories missing on one side count 0 there."""
    labels = tuple(dict.fromkeys([*reference, *current]))
    ref = np.array([reference.get(k, 0) for k in labels], np.float64)
    cur = np.array([current.get(k, 0) for k in labels], np.float64)
    base = dict(
        feature=feature,
        statistic="JS distance",
        threshold=config.js,
        test="chi-square",
        alpha=config.alpha,
        reference_n=int(ref.sum()),
        current_n=int(cur.sum()),
        reference=ref,
        current=cur,
        labels=labels,
    )
    if ref.sum() == 0 or cur.sum() == 0:
        return FeatureDrift(
            value=math.nan, p_value=math.nan, drifted=False, change="no boxes on one side", **base
        )
    value = float(jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2))
    used = (ref + cur) > 0
    p = float(chi2_contingency(np.stack([ref[used], cur[used]])).pvalue) if used.sum() >= 2 else 1.0
    shift = cur / cur.sum() - ref / ref.sum()
    k = int(np.argmax(np.abs(shift)))
    change = (
        f"largest change: {labels[k]} {ref[k] / ref.sum():.1%} -> {cur[k] / cur.sum():.1%} of boxes"
    )
    drifted = value > config.js and p < config.alpha
    return FeatureDrift(value=value, p_value=p, drifted=drifted, change=change, **base)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index sum((c - r) ln(c / r)) over bins of the reference.

    Bins are the distinct values when both samples together hold at most
    ``DISCRETE_LIMIT`` of them (counts, image sizes), else cut at the reference's
    quantiles, open-ended on both sides. Each bin gets half a count before
    normalising, so an empty bin is finite rather than infinite."""
    ref_bins, cur_bins, n_bins = _bin(reference, current, bins)
    r = (np.bincount(ref_bins, minlength=n_bins) + 0.5) / (len(reference) + 0.5 * n_bins)
    c = (np.bincount(cur_bins, minlength=n_bins) + 0.5) / (len(current) + 0.5 * n_bins)
    return float(np.sum((c - r) * np.log(c / r)))


def _bin(ref: np.ndarray, cur: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    values = np.unique(np.concatenate([ref, cur]))
    if len(values) <= DISCRETE_LIMIT:
        return np.searchsorted(values, ref), np.searchsorted(values, cur), len(values)
    if np.ptp(ref) == 0:  # a constant reference: below, equal to, above it
        edges = np.array([ref[0], np.nextafter(ref[0], np.inf)])
    else:
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    # side="right": a value equal to an edge goes in the bin that starts there.
    return (
        np.searchsorted(edges, ref, side="right"),
        np.searchsorted(edges, cur, side="right"),
        len(edges) + 1,
    )


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
