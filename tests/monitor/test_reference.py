"""Reference statistics are measured on the pixels the server measures live traffic
on: a large JPEG is decoded at reduced scale for the model's input size by both, so
the same files give the same statistics (a full decode would read ~15% sharper and
make every served JPEG look drifted)."""

from __future__ import annotations

import cv2
import numpy as np

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.image_stats import image_statistics
from yolops.data.synth import SynthConfig, render_scene
from yolops.detections import Detections
from yolops.serve.inputs import Upload, decode_upload
from yolops.track.reference import build_reference


class NoBoxes:
    class_names = ("thing",)
    imgsz = 320

    def predict(self, images, conf=0.25, original_sizes=None):
        return [Detections(class_names=self.class_names) for _ in images]


def test_reference_statistics_are_what_the_server_logs_for_the_same_jpegs(tmp_path):
    records = []
    for i in range(6):
        image = render_scene(np.random.default_rng(i), 640, 480, SynthConfig()).image
        path = tmp_path / f"{i}.jpg"
        cv2.imwrite(
            str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        records.append(ImageRecord(str(i), path, 640, 480))
    ds = Dataset(records, ("thing",), splits={"train": ["0", "1", "2"], "val": ["3", "4", "5"]})
    ref = build_reference(NoBoxes(), ds)
    served = [
        decode_upload(Upload(r.path.name, r.path.read_bytes()), 40_000_000, imgsz=320)
        for r in records
    ]
    assert all(
        d.reduced and d.size == (640, 480) for d in served
    )  # the server decodes these at 1/2 scale
    logged = [image_statistics(d.image) for d in served]
    for k in ("brightness", "contrast", "sharpness"):
        assert ref.inputs[k] == [s[k] for s in logged]
    assert ref.inputs["width"] == [640.0] * 6 and ref.inputs["height"] == [480.0] * 6
