"""Validation of the real BCCD data set: its degenerate and duplicate boxes reported by
file (counted here independently), its class imbalance, the split leakage check, an
HTML report with its pictures embedded, and the time it all takes."""

from __future__ import annotations

import base64
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from yolops.data.dataset import load_dataset
from yolops.quality.report import render_html
from yolops.quality.validate import validate_dataset

pytestmark = pytest.mark.bccd


@pytest.fixture(scope="module")
def bccd(bccd_root):
    return load_dataset(bccd_root)


@pytest.fixture(scope="module")
def timed_report(bccd):
    start = time.perf_counter()
    report = validate_dataset(bccd)
    return report, time.perf_counter() - start


def degenerate_in_xml(root) -> set[tuple[str, str]]:
    """(annotation file, ``object N``) of every box with no width or height, read from the XML."""
    found = set()
    for xml in sorted((root / "Annotations").glob("*.xml")):
        for n, obj in enumerate(
            ET.parse(xml).getroot().iter("object"), start=1
        ):  # VOC objects count from 1
            b = obj.find("bndbox")
            x1, y1, x2, y2 = (float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            if x2 <= x1 or y2 <= y1:
                found.add((f"Annotations/{xml.name}", f"object {n}"))
    return found


def duplicate_pairs(ds, threshold: float = 0.9) -> set[tuple[str, int, int]]:
    """(image id, i, j) of boxes of one class overlapping with IoU > ``threshold``,
    by a plain numpy IoU (not the code under test)."""
    pairs = set()
    for r in ds:
        b = r.boxes.astype(np.float64)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                w = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
                h = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
                inter = max(w, 0) * max(h, 0)
                if r.classes[i] == r.classes[j] and inter / (area[i] + area[j] - inter) > threshold:
                    pairs.add((r.id, i, j))
    return pairs


def test_every_degenerate_box_is_reported_by_file(bccd_root, timed_report):
    report, _ = timed_report
    expected = degenerate_in_xml(bccd_root)
    assert len(expected) == 2
    reported = {
        (i.path, i.location)
        for i in report.issues
        if i.code in ("box_zero_area", "box_inverted", "box_degenerate")
    }
    assert reported == expected
    assert all(i.severity.value == "error" for i in report.issues if i.code == "box_zero_area")


def test_every_near_duplicate_box_is_reported_by_file(bccd, timed_report):
    report, _ = timed_report
    expected = duplicate_pairs(bccd)
    assert len(expected) == 7
    reported = set()
    for i in report.issues:
        if i.code == "box_duplicate":
            a, b = map(int, re.findall(r"\d+", i.location))
            assert i.path == f"JPEGImages/{i.image_id}.jpg"
            reported.add((i.image_id, a, b))
    assert reported == expected


def test_class_imbalance_and_the_leakage_check(bccd, timed_report):
    report, _ = timed_report
    imbalance = [i for i in report.issues if i.code == "class_imbalance"]
    assert (
        len(imbalance) == 1 and "'RBC' has 4153 boxes and 'Platelets' 361" in imbalance[0].message
    )
    assert (
        len(report.image_stats) == len(bccd) == 364
    )  # every image read and hashed for the duplicate check
    leaks = {(i.image_id, i.location) for i in report.issues if i.code == "split_leakage"}
    assert ("BloodImage_00038", "duplicate of BloodImage_00037") in leaks


def test_the_html_report_embeds_its_pictures(timed_report):
    report, _ = timed_report
    page = render_html(report, thumbnails=4)
    uris = re.findall(r"src='(data:image/(?:jpeg|png);base64,[^']+)'", page)
    assert len(uris) == page.count("<img ")
    assert len(uris) >= 2 + 4  # two plots, thumbnails of the zero-area, duplicate and leaking boxes
    for uri in uris:
        assert len(base64.b64decode(uri.split(",", 1)[1])) > 500
    for code in ("box_zero_area", "box_duplicate", "split_leakage"):
        section = page.split(f"<section id='code-{code}'>", 1)[1].split("</section>", 1)[0]
        assert "data:image/jpeg;base64," in section, code
