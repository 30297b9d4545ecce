"""Monitoring on real images: BCCD's test split, logged as the server logs it, does
not drift from the reference its train and validation splits give; the same
images darkened or blurred do, each in its own feature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from yolops.data.dataset import Dataset
from yolops.data.image_stats import image_statistics
from yolops.data.images import read_image_for_model
from yolops.detections import Detections
from yolops.monitor.drift import check_window
from yolops.track.reference import build_reference

pytestmark = pytest.mark.bccd
END = datetime(2026, 11, 25, 12, tzinfo=UTC)


class NoBoxes:
    """A predictor that finds nothing: these tests are about the inputs only."""

    imgsz = 320

    def __init__(self, names):
        self.class_names = tuple(names)

    def predict(self, images, conf=0.25, original_sizes=None):
        return [Detections(class_names=self.class_names) for _ in images]


def logged(images: list[np.ndarray]) -> list[dict]:
    return [
        {
            "time": END - timedelta(seconds=i + 1),
            "request_id": str(i),
            "image_name": f"{i}.jpg",
            "model_version": "1",
            "width": 640,
            "height": 480,
            **image_statistics(img),
            "classes": [],
            "scores": [],
        }
        for i, img in enumerate(images)
    ]


@pytest.fixture(scope="module")
def bccd_case(bccd_root):
    ds = Dataset.load(bccd_root)
    reference = build_reference(NoBoxes(ds.class_names), ds)
    test = [
        read_image_for_model(r.path, NoBoxes.imgsz)[0] for r in ds.split("test")
    ]  # as the server decodes
    return reference, test


def drifted(reference, images) -> set[str]:
    report = check_window(reference, logged(images), END - timedelta(hours=1), END)
    return {f.feature for f in report.inputs if f.drifted}


def test_the_test_split_does_not_drift(bccd_case):
    reference, test = bccd_case
    assert reference.num_images == 205 + 87 and len(test) == 72
    assert drifted(reference, test) == set()


def test_darkened_and_blurred_images_drift(bccd_case):
    reference, test = bccd_case
    assert "image brightness" in drifted(reference, [(img * 0.6).astype(np.uint8) for img in test])
    assert drifted(reference, [cv2.GaussianBlur(img, (0, 0), 2.0) for img in test]) == {
        "image sharpness"
    }
