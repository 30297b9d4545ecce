"""The monitoring verdicts on synthetic traffic: quiet traffic passes, each kind of
drift is caught by its own feature, and single images are flagged for labeling."""

from __future__ import annotations

from datetime import timedelta

import pytest

from yolops.errors import ReferenceStatsError
from yolops.monitor.drift import ALERT, OK, TOO_FEW, MonitorConfig, check_window
from yolops.track.reference import Reference

from html_support import injected_attributes
from monitor_support import END, reference, rows

START = END - timedelta(hours=1)


def check(live, **config):
    return check_window(reference(), live, START, END, MonitorConfig(**config))


def drifted(report) -> set[str]:
    return {f.feature for f in report.drifted}


def test_traffic_like_the_reference_raises_no_alert():
    report = check(rows())
    assert report.status == OK and report.exit_code() == 0 and not report.alerts
    assert drifted(report) == set()
    # A few: tail images (outside 0.5% quantiles of 3 varying features) and uncertain ones.
    assert len(report.flagged) < 20


def test_darker_images_drift_the_inputs_only():
    report = check(rows(brightness=60))
    assert report.status == ALERT and report.exit_code() == 1
    assert drifted(report) == {"image brightness"}
    assert (
        report.alerts[0].startswith("image brightness drifted: PSI") and "-> 60" in report.alerts[0]
    )
    # Every image is darker than the reference's darkest 0.5%: each one is flagged, and says why.
    assert len(report.flagged) >= 190
    assert all(
        any(r.startswith("brightness") and "below" in r for r in f.reasons) for f in report.flagged
    )


def test_a_new_image_size_drifts_and_flags():
    report = check(rows(width=1280))
    assert "image width" in drifted(report)
    assert all(any("width 1280 px above" in r for r in f.reasons) for f in report.flagged)


def test_a_changed_class_mix_drifts_the_predictions():
    report = check(rows(mix=(0.1, 0.3, 0.6)))
    assert drifted(report) == {"class mix"}
    mix = next(f for f in report.predictions if f.feature == "class mix")
    assert "largest change" in mix.change and mix.p_value < 1e-6


def test_uncertain_predictions_raise_the_low_confidence_share():
    report = check(rows(confident=0.3))
    assert {"low-confidence share", "confidence"} <= drifted(report)
    low = report.low_confidence
    assert low.value > 0.3 and "->" in low.change
    assert any("boxes below confidence 0.5" in r for f in report.flagged for r in f.reasons)


def test_margin_and_threshold_are_the_users_to_set():
    live = rows(confident=0.65)  # a real but small rise of uncertain boxes
    assert "low-confidence share" not in drifted(check(live, low_conf_margin=0.5))
    assert "low-confidence share" in drifted(check(live, low_conf_margin=0.05))


def test_too_little_traffic_gives_no_verdict():
    report = check(rows(n=10, brightness=60))
    assert report.status == TOO_FEW and report.exit_code() == 0 and not report.alerts
    assert "not enough traffic" in report.summary()


def test_both_sides_are_compared_at_the_servers_threshold():
    ref = reference()
    at_25 = sum(len(d) for d in ref.detections_at(0.25))
    assert at_25 < sum(
        len(d) for d in ref.detections
    )  # the reference keeps boxes down to its floor
    assert all(s >= 0.5 for d in ref.detections_at(0.5) for _, s in d)
    with pytest.raises(ReferenceStatsError, match="lower threshold"):
        ref.detections_at(0.01)


def test_report_json_and_reference_round_trip(tmp_path):
    report = check(rows(brightness=60))
    d = report.to_dict()
    assert (
        d["status"] == "alert"
        and d["window"]["images"] == 200
        and len(d["flagged"]) == len(report.flagged)
    )
    assert {f["feature"] for f in d["features"] if f["drifted"]} == {"image brightness"}
    ref = reference()
    again = Reference.load(ref.save(tmp_path / "ref.json"))
    assert again.inputs == ref.inputs and again.class_names == ref.class_names
    assert [[(c, round(s, 5)) for c, s in i] for i in ref.detections] == again.detections
    (tmp_path / "bad.json").write_text('{"format": 99}')
    with pytest.raises(ReferenceStatsError, match="bad.json: not a yolops reference"):
        Reference.load(tmp_path / "bad.json")


def test_the_html_report_prints_names_as_text(tmp_path):
    """Issue 16, item 13: a class name, an image name (from a request) and a saved
    sample's file name like ``XSS`` stay text in the monitoring report."""
    import dataclasses

    import cv2
    import numpy as np

    from yolops.monitor.report import render_monitor_html

    xss = "<img src=x onerror=alert(1)>"
    ref = reference()
    rename = {"cat": xss}
    ref = dataclasses.replace(
        ref,
        model_name=xss,
        dataset=xss,
        class_names=(xss, *ref.class_names[1:]),
        detections=[[(rename.get(c, c), s) for c, s in d] for d in ref.detections],
    )
    sample = tmp_path / f"{xss}.jpg"
    cv2.imwrite(str(sample), np.full((48, 64, 3), 30, np.uint8))
    live = rows(n=60, brightness=60, mix=(0.1, 0.3, 0.6), sample_path=lambda i: str(sample))
    for row in live:
        row.update(image_name=xss, request_id=xss)
        row["classes"] = [rename.get(c, c) for c in row["classes"]]
    report = check_window(ref, live, START, END, MonitorConfig())
    assert report.flagged and "class mix" in drifted(report)
    html = render_monitor_html(report)
    assert xss not in html and "&lt;img src=x onerror=alert(1)&gt;" in html

    assert injected_attributes(html) == []
    assert html.count("data:image/jpeg;base64,") == min(len(report.flagged), 24)
