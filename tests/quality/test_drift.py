"""Drift: PSI, the two-sided verdict (effect size and test), and whole datasets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from yolops.quality.drift import DriftConfig, categorical_drift, compare, numeric_drift, psi
from yolops.quality.images import scan_images
from yolops.quality.plant import plant_defects

RNG = np.random.default_rng(0)


def test_psi_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    ref = RNG.normal(0, 1, 5000)
    same = RNG.normal(0, 1, 5000)
    assert psi(ref, same) < 0.02
    shifts = [psi(ref, RNG.normal(mu, 1, 5000)) for mu in (0.25, 0.5, 1.0)]
    assert shifts == sorted(shifts) and shifts[0] > 0.04 and shifts[-1] > 0.8
    assert math.isfinite(
        psi(ref, ref + 100)
    )  # every current value past the last bin: large, finite


def test_psi_bins_few_distinct_values_by_value():
    ref = np.array([1, 1, 2, 2, 3, 3] * 50, np.float64)
    assert psi(ref, ref.copy()) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, np.array([3] * 300, np.float64)) > 1.0
    assert psi(np.full(100, 5.0), np.full(100, 5.0)) == pytest.approx(0.0, abs=1e-12)  # constant


def test_a_feature_drifts_only_when_the_change_is_both_large_and_significant():
    ref = RNG.normal(100, 10, 2000)
    moved = numeric_drift("box width", ref, RNG.normal(130, 10, 2000))
    assert moved.drifted and moved.p_value < 1e-10 and moved.value > 0.2
    assert (
        moved.change.startswith("median 99")
        and moved.change.endswith(" px")
        and "drifted" in moved.describe()
    )
    still = numeric_drift("box width", ref, RNG.normal(100, 10, 2000))
    assert not still.drifted
    # 12 values of the same distribution: PSI alone would cry drift, the test does not
    small = numeric_drift(
        "box width",
        np.random.default_rng(1).normal(100, 10, 2000),
        np.random.default_rng(2).normal(100, 10, 12),
    )
    assert small.value > 0.2 and small.p_value >= 0.01 and not small.drifted
    empty = numeric_drift("box width", ref, np.zeros(0))
    assert (
        not empty.drifted
        and "not compared" in empty.describe()
        and empty.to_dict()["value"] is None
    )


def test_class_mix_drift():
    ref = {"cat": 500, "dog": 500}
    swapped = categorical_drift("class mix", ref, {"cat": 150, "dog": 850})
    assert swapped.drifted and "cat 50.0% -> 15.0%" in swapped.change
    assert not categorical_drift("class mix", ref, {"cat": 480, "dog": 520}).drifted
    new_class = categorical_drift("class mix", ref, {"cat": 300, "dog": 300, "bird": 400})
    assert new_class.drifted and new_class.labels == ("cat", "dog", "bird")
    assert not categorical_drift("class mix", ref, {}).drifted


def test_thresholds_are_configurable():
    ref, cur = RNG.normal(0, 1, 3000), RNG.normal(0.3, 1, 3000)
    assert not numeric_drift("x", ref, cur).drifted  # PSI ~0.09 < 0.2
    assert numeric_drift("x", ref, cur, DriftConfig(psi=0.05)).drifted


def test_datasets_of_one_generator_do_not_drift_but_darkened_images_do(shapes, tmp_path):
    train, val = shapes.split("train"), shapes.split("val")
    scans = scan_images(shapes)
    report = compare(train, val, reference_scans=scans, current_scans=scans)
    assert report.drifted == []
    dark, _ = plant_defects(val, tmp_path / "dark", per_kind=len(val) // 2, kinds=("dark",))
    report = compare(train, dark, reference_scans=scans)
    assert "image brightness" in [f.feature for f in report.drifted]
    issue = next(i for i in report.issues() if i.location == "image brightness")
    assert issue.code == "drift" and "reference" in issue.message
    data = report.to_dict()
    json.dumps(data)  # JSON-ready
    assert "image brightness" in data["drifted"] and len(data["features"]) == len(report.features)


def test_box_size_drift_between_datasets(annotations):
    ref = annotations({f"r{k}": [(0, 0, 20 + k % 5, 20, 0)] * 3 for k in range(60)})
    cur = annotations({f"c{k}": [(0, 0, 40 + k % 5, 20, 0)] * 3 for k in range(60)})
    report = compare(ref, cur, DriftConfig(image_features=()))
    assert {"box width", "box area", "box aspect"} <= {f.feature for f in report.drifted}
    assert "box height" not in {f.feature for f in report.drifted}
