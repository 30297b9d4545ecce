"""Live traffic against a model version's reference statistics.

Given the prediction-log rows of a time window (one per served image) and the
version's :class:`~yolops.track.reference.Reference`, :func:`check_window` asks
three questions, each with the effect-size-and-test rule of
:mod:`yolops.quality.drift`:

- input drift: image brightness, contrast, sharpness, width and height (PSI + KS);
- prediction drift: class mix of the boxes (JS distance + chi-square), confidence
  distribution and boxes per image (PSI + KS);
- low confidence: the share of boxes scoring below ``low_conf`` rose by more than
  ``low_conf_margin`` over the reference's (one-sided two-proportion z-test).

Both sides are compared at the server's confidence threshold ``conf``. Each live
image is also judged on its own, for the batch sent back to labeling: input
statistics outside the reference's central range, mostly uncertain boxes, or no
box where the reference nearly always has some.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from scipy.stats import norm

from yolops.data.image_stats import STATS
from yolops.quality.drift import DriftConfig, FeatureDrift, categorical_drift, numeric_drift
from yolops.track.reference import INPUT_FEATURES, Reference

OK, ALERT, TOO_FEW = "ok", "alert", "not enough traffic"


@dataclass(frozen=True)
class MonitorConfig:
    conf: float = 0.25  # the server's confidence threshold; both sides are compared at it
    low_conf: float = 0.5  # a box scoring below this is low-confidence
    low_conf_margin: float = (
        0.10  # alert when the live low-confidence share exceeds the reference's by more
    )
    min_images: int = 30  # fewer live images than this: not enough to judge
    outlier_quantile: float = (
        0.005  # an image outside the reference's [q, 1 - q] range of a statistic is flagged
    )
    uncertain_share: float = (
        0.5  # an image with more than this share of low-confidence boxes is flagged
    )
    drift: DriftConfig = field(default_factory=DriftConfig)


@dataclass(frozen=True)
class Flagged:
    """One live image worth a person's look, and why."""

    row: dict
    reasons: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class MonitorReport:
    model_name: str
    model_version: str
    start: datetime
    end: datetime
    reference: Reference
    config: MonitorConfig
    rows: list[dict]
    inputs: tuple[FeatureDrift, ...]
    predictions: tuple[FeatureDrift, ...]
    low_confidence: FeatureDrift
    flagged: tuple[Flagged, ...]
    other_versions: int = 0  # rows of the window served by other versions, left out

    @property
    def features(self) -> tuple[FeatureDrift, ...]:
        return (*self.inputs, *self.predictions, self.low_confidence)

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    @property
    def status(self) -> str:
        if len(self.rows) < self.config.min_images:
            return TOO_FEW
        return ALERT if self.drifted else OK

    @property
    def alerts(self) -> list[str]:
        return [f.describe() for f in self.drifted] if self.status == ALERT else []

    def exit_code(self) -> int:
        """1 when a threshold was crossed, else 0 (also with too little traffic to judge)."""
        return 1 if self.status == ALERT else 0

    def summary(self) -> str:
        head = (
            f"{self.model_name} version {self.model_version}: {len(self.rows)} images from "
            f"{self.start.isoformat(timespec='seconds')} to "
            f"{self.end.isoformat(timespec='seconds')}"
        )
        if self.status == TOO_FEW:
            return (
                f"{head}: not enough traffic to judge (fewer than {self.config.min_images} images)"
            )
        if self.status == OK:
            return f"{head}: no drift"
        return f"{head}: {len(self.drifted)} alert(s): " + "; ".join(
            f.feature for f in self.drifted
        )

    def to_dict(self) -> dict:
        c = self.config
        return {
            "model": {"name": self.model_name, "version": self.model_version},
            "window": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "images": len(self.rows),
                "other_versions": self.other_versions,
            },
            "reference": {
                "dataset": self.reference.dataset,
                "dataset_hash": self.reference.dataset_hash,
                "images": self.reference.num_images,
                "validation_images": len(self.reference.detections),
                "created_at": self.reference.created_at,
            },
            "thresholds": {
                "conf": c.conf,
                "low_conf": c.low_conf,
                "low_conf_margin": c.low_conf_margin,
                "min_images": c.min_images,
                "psi": c.drift.psi,
                "js": c.drift.js,
                "alpha": c.drift.alpha,
            },
            "status": self.status,
            "alerts": self.alerts,
            "summary": self.summary(),
            "features": [
                {"group": g, **f.to_dict()}
                for g, fs in (
                    ("input", self.inputs),
                    ("prediction", self.predictions),
                    ("prediction", (self.low_confidence,)),
                )
                for f in fs
            ],
            "flagged": [
                {
                    "time": f.row["time"].isoformat(),
                    "request_id": f.row["request_id"],
                    "image_name": f.row["image_name"],
                    "sample_path": f.row.get("sample_path"),
                    "reasons": list(f.reasons),
                }
                for f in self.flagged
            ],
        }


def check_window(
    reference: Reference,
    rows: list[dict],
    start: datetime,
    end: datetime,
    config: MonitorConfig = MonitorConfig(),
    other_versions: int = 0,
) -> MonitorReport:
    """Compare the prediction-log ``rows`` of one model version (see
    :func:`yolops.monitor.log.read_predictions`) with its ``reference``."""
    c = config
    live = [_kept(r, c.conf) for r in rows]
    inputs = tuple(
        numeric_drift(f"image {k}", reference.input_values(k), [r[k] for r in rows], c.drift)
        for k in INPUT_FEATURES
    )
    ref_images = reference.detections_at(c.conf)
    ref_classes = [name for image in ref_images for name, _ in image]
    ref_scores = [s for image in ref_images for _, s in image]
    live_classes = [name for names, _ in live for name in names]
    live_scores = [s for _, scores in live for s in scores]
    predictions = (
        categorical_drift("class mix", _counts(ref_classes), _counts(live_classes), c.drift),
        numeric_drift("confidence", ref_scores, live_scores, c.drift),
        numeric_drift(
            "boxes per image", [len(i) for i in ref_images], [len(n) for n, _ in live], c.drift
        ),
    )
    low = low_confidence_drift(ref_scores, live_scores, c)
    flagged = tuple(_flag(reference, ref_images, rows, live, c))
    return MonitorReport(
        reference.model_name,
        reference.model_version,
        start,
        end,
        reference,
        c,
        rows,
        inputs,
        predictions,
        low,
        flagged,
        other_versions,
    )


def low_confidence_drift(
    reference: list[float], current: list[float], config: MonitorConfig
) -> FeatureDrift:
    """The rise of the share of boxes scoring below ``config.low_conf``: drifted when
    it exceeds ``low_conf_margin`` and a one-sided two-proportion z-test says it is real."""
    c = config
    ref_low, cur_low = sum(s < c.low_conf for s in reference), sum(s < c.low_conf for s in current)
    n_ref, n_cur = len(reference), len(current)
    base = dict(
        feature="low-confidence share",
        statistic="share rise",
        threshold=c.low_conf_margin,
        test="z-test",
        alpha=c.drift.alpha,
        reference_n=n_ref,
        current_n=n_cur,
        reference=np.array([ref_low, n_ref - ref_low], np.float64),
        current=np.array([cur_low, n_cur - cur_low], np.float64),
        labels=(f"score < {c.low_conf:g}", f"score >= {c.low_conf:g}"),
    )
    if not n_ref or not n_cur:
        return FeatureDrift(
            value=math.nan, p_value=math.nan, drifted=False, change="no boxes on one side", **base
        )
    p_ref, p_cur = ref_low / n_ref, cur_low / n_cur
    pooled = (ref_low + cur_low) / (n_ref + n_cur)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
    p_value = float(norm.sf((p_cur - p_ref) / se)) if se > 0 else (0.0 if p_cur > p_ref else 1.0)
    rise = p_cur - p_ref
    drifted = rise > c.low_conf_margin and p_value < c.drift.alpha
    return FeatureDrift(
        value=rise,
        p_value=p_value,
        drifted=drifted,
        change=f"boxes below {c.low_conf:g}: {p_ref:.1%} -> {p_cur:.1%}",
        **base,
    )


def _kept(row: dict, conf: float) -> tuple[list[str], list[float]]:
    """The row's boxes a server with threshold ``conf`` returns (a server may have
    run with a lower one)."""
    keep = [i for i, s in enumerate(row["scores"]) if s >= conf]
    return [row["classes"][i] for i in keep], [row["scores"][i] for i in keep]


def _counts(names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        out[n] = out.get(n, 0) + 1
    return out


def _flag(reference: Reference, ref_images: list, rows: list[dict], live: list, c: MonitorConfig):
    q = c.outlier_quantile
    ranges = {}
    for k in INPUT_FEATURES:
        values = reference.input_values(k)
        if len(values):
            ranges[k] = (float(np.quantile(values, q)), float(np.quantile(values, 1 - q)))
    empty_share = (sum(not i for i in ref_images) / len(ref_images)) if ref_images else 1.0
    for row, (_, scores) in zip(rows, live):
        reasons = []
        for k, (lo, hi) in ranges.items():
            v = row[k]
            if v < lo or v > hi:
                side, edge = ("below", lo) if v < lo else ("above", hi)
                unit = "" if k in STATS else " px"
                reasons.append(
                    f"{k} {v:.4g}{unit} {side} the reference's range ({lo:.4g}..{hi:.4g})"
                )
        low = sum(s < c.low_conf for s in scores)
        if scores and low / len(scores) > c.uncertain_share:
            reasons.append(
                f"{low} of {len(scores)} boxes below confidence {c.low_conf:g} "
                f"(lowest {min(scores):.2f})"
            )
        if not scores and empty_share < 0.05:
            reasons.append(f"no boxes, while {1 - empty_share:.0%} of reference images have some")
        if reasons:
            yield Flagged(row, tuple(reasons))
