"""The ONNX path's post-processing in NumPy and OpenCV (issue 16, item 14): the same
detections as the torch path (:func:`yolops.model.postprocess.postprocess`) on crowded
generated outputs and on the corner cases of the rule; and predicting with an ONNX graph
imports no torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from yolops.infer.nms import nms, postprocess_raw
from yolops.model.boxes import batched_nms, cxcywh_to_xyxy
from yolops.model.postprocess import postprocess


def raw_output(seed: int, anchors: int = 2000, classes: int = 4, size: float = 320) -> np.ndarray:
    """A raw graph's output (4 + C, A): clusters of overlapping boxes (some reaching past
    the image's top-left corner), scores with ties, some exactly 0."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-20, size, (anchors // 20, 2))
    cx, cy = (np.repeat(centres, 20, 0) + rng.normal(0, 4, (anchors, 2))).T
    w, h = rng.uniform(2, 120, (2, anchors))
    scores = rng.uniform(0, 1, (classes, anchors)) ** 3
    scores[:, ::7] = np.round(scores[:, ::7], 2)  # ties
    scores[:, ::11] = 0.0
    return np.vstack([cx, cy, w, h, scores]).astype(np.float32)


def torch_path(pred: np.ndarray, **options):
    p = torch.from_numpy(np.ascontiguousarray(pred.T))[None]
    ((b, s, c),) = postprocess(cxcywh_to_xyxy(p[..., :4]), p[..., 4:], **options)
    return b.numpy(), s.numpy(), c.numpy()


@pytest.mark.parametrize(
    "options",
    [
        dict(conf=0.25, iou=0.7, max_det=300),
        dict(conf=0.001, iou=0.7, max_det=300),
        dict(conf=0.001, iou=0.45, max_det=50),
        dict(conf=0.0, iou=0.5, max_det=3000),  # every box, the 0-score ones too
        dict(conf=0.1, iou=0.6, agnostic=True),
        dict(conf=0.0, iou=0.7, classes=[1, 3]),
        dict(conf=0.05, iou=0.7, max_candidates=100),
        dict(conf=0.5, iou=1.0),
    ],
)
def test_the_same_detections_as_the_torch_path(options):
    for seed in range(3):
        pred = raw_output(seed)
        expected, found = torch_path(pred, **options), postprocess_raw(pred, **options)
        assert len(expected[0]) > 0
        for a, b in zip(expected, found):
            assert a.dtype == b.dtype and np.array_equal(a, b), (seed, options)


def test_a_float16_graph_is_compared_in_float32_as_torch_did():
    pred = raw_output(4).astype(np.float16)
    expected = torch_path(pred.astype(np.float32), conf=0.3, iou=0.7)
    for a, b in zip(expected, postprocess_raw(pred, conf=0.3, iou=0.7)):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_empty_outputs_and_no_candidates():
    low = raw_output(0, classes=3)
    low[4:] = 0.1
    for pred in (np.zeros((7, 0), np.float32), low):
        boxes, scores, classes = postprocess_raw(pred, conf=0.25)
        assert boxes.shape == (0, 4) and scores.shape == classes.shape == (0,)
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None, 0.5).shape == (0,)


def test_boxes_past_the_corner_never_suppress_another_class():
    """OpenCV's own class offset assumes coordinates >= 0; a box of class 1 reaching far
    past the top-left corner would land on class 0's box at the far corner."""
    boxes = np.array([[200, 200, 300, 300], [-101, -101, -1, -1]], np.float32)
    scores = np.array([0.9, 0.8], np.float32)
    classes = np.array([0, 1])
    expected = batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.tensor(classes), 0.5
    )
    assert nms(boxes, scores, classes, 0.5).tolist() == expected.tolist() == [0, 1]


def test_predicting_with_an_onnx_graph_imports_no_torch(tmp_path):
    from yolops.infer.export import export_onnx
    from yolops.model.yolo import build_model

    graph = export_onnx(build_model("n", 3), tmp_path / "m.onnx", imgsz=64)
    code = (
        "import sys, numpy as np\n"
        "from yolops.infer.predictor import load_predictor\n"
        "p = load_predictor(sys.argv[1])\n"
        "image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)\n"
        "(found,) = p.predict([image], conf=0.0, max_det=5)  # every anchor goes through NMS\n"
        "assert len(found) == 5, found\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(graph)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
