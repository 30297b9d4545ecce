"""Predictors: ONNX graphs we did not write, backend choice, errors, streaming sources."""

import os
import time
import warnings

import cv2
import numpy as np
import onnx
import pytest
import torch
from torch import nn

from yolops.device import cpu_count
from yolops.errors import ModelError, YolopsError
from yolops.infer.predictor import (
    OnnxPredictor,
    TorchPredictor,
    load_predictor,
    parse_class_names,
    predict_source,
)
from yolops.model.checkpoint import save_checkpoint
from yolops.model.yolo import build_model

# Candidates of the fake Ultralytics graph: cx, cy, w, h (input pixels of a 64x64 input), scores.
CANDIDATES = np.array(
    [
        [32, 32, 20, 10, 0.9, 0.1],  # a cat
        [33, 32, 20, 10, 0.8, 0.2],  # the same cat, weaker: NMS removes it
        [10, 50, 8, 8, 0.05, 0.7],  # a dog
        [50, 10, 6, 6, 0.1, 0.2],  # below conf 0.25
    ],
    np.float32,
)
ULTRALYTICS_NAMES = "{0: 'cat', 1: 'dog'}"


class FakeUltralytics(nn.Module):
    """Output (1, 4 + nc, N) like an Ultralytics YOLOv8 export; ignores the pixels."""

    def __init__(self):
        super().__init__()
        self.register_buffer("candidates", torch.from_numpy(CANDIDATES.T.copy())[None])  # (1, 6, 4)

    def forward(self, images):
        return self.candidates + 0 * images.mean()


def export_fake(path, metadata: dict[str, str]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            FakeUltralytics(),
            (torch.zeros(1, 3, 64, 64),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["output0"],
        )
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, metadata)
    onnx.save(proto, str(path))
    return path


@pytest.fixture
def ultralytics_onnx(tmp_path):
    # The keys Ultralytics writes, with values as it writes them.
    meta = {
        "description": "Ultralytics YOLOv8n model",
        "author": "Ultralytics",
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "imgsz": "[64, 64]",
        "names": ULTRALYTICS_NAMES,
    }
    return export_fake(tmp_path / "yolov8n.onnx", meta)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "best.pt"
    torch.manual_seed(0)
    model = build_model("n", 2)
    save_checkpoint(
        path, {"model": model.state_dict(), "scale": "n", "class_names": ["a", "b"], "imgsz": 64}
    )
    return path


def test_ultralytics_style_graph_predicts_in_original_pixels(ultralytics_onnx):
    p = OnnxPredictor(ultralytics_onnx)
    assert p.kind == "raw" and p.class_names == ("cat", "dog") and p.imgsz == 64
    # 128x64 image -> letterboxed at ratio 0.5 into 64x32, padded 16 rows at the top.
    image = np.zeros((64, 128, 3), np.uint8)
    [det] = p.predict([image])
    assert det.classes.tolist() == [0, 1]
    np.testing.assert_allclose(det.scores, [0.9, 0.7], atol=1e-6)
    # cat: cx 32 cy 32 w 20 h 10 -> xyxy (22, 27, 42, 37) input -> ((x - 0) / 0.5, (y - 16) / 0.5)
    np.testing.assert_allclose(det.boxes[0], [44, 22, 84, 42], atol=1e-4)
    np.testing.assert_allclose(det.boxes[1], [12, 60, 28, 76], atol=1e-4)
    assert det.to_dicts()[1]["class_name"] == "dog"
    # The NMS options reach the one postprocess.
    assert len(p.predict([image], conf=0.01)[0]) == 3  # weaker cat suppressed, faint box kept
    assert p.predict([image], classes=[1])[0].classes.tolist() == [1]
    assert len(p.predict([image], iou=0.99)[0]) == 3  # the two cats overlap by < 0.99


def test_graph_without_names_uses_class_ids(tmp_path):
    p = OnnxPredictor(export_fake(tmp_path / "bare.onnx", {}))
    assert p.class_names == ("0", "1")
    p = OnnxPredictor(tmp_path / "bare.onnx", class_names=["x", "y"])
    assert p.class_names == ("x", "y")
    with pytest.raises(ModelError, match="6 rows per anchor, expected 4 \\+ 3 classes"):
        OnnxPredictor(tmp_path / "bare.onnx", class_names=["x", "y", "z"])


@pytest.mark.parametrize(
    "text, names",
    [
        ('["a", "b"]', ("a", "b")),
        ("{0: 'person', 1: 'bicycle'}", ("person", "bicycle")),
        ("{1: 'b', 0: 'a'}", ("a", "b")),
    ],
)
def test_parse_class_names(text, names):
    assert parse_class_names(text, "m.onnx") == names


@pytest.mark.parametrize("text", ["{0: 'a', 2: 'c'}", "not names", "42"])
def test_parse_class_names_refuses_bad_metadata(text):
    with pytest.raises(ModelError, match="m.onnx: metadata 'names'"):
        parse_class_names(text, "m.onnx")


def test_session_options(ultralytics_onnx):
    options = OnnxPredictor(ultralytics_onnx, threads=1).session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    options = OnnxPredictor(ultralytics_onnx).session.get_session_options()
    assert options.intra_op_num_threads == cpu_count()


def test_errors_name_the_file(tmp_path, ultralytics_onnx):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not a protobuf")
    with pytest.raises(ModelError, match="junk.onnx: not a loadable ONNX model"):
        OnnxPredictor(junk)
    with pytest.raises(ModelError, match="missing.pt: model file does not exist"):
        load_predictor(tmp_path / "missing.pt")
    with pytest.raises(ModelError, match="missing.onnx: ONNX model file does not exist"):
        OnnxPredictor(tmp_path / "missing.onnx")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown model file type '.bin'"):
        load_predictor(tmp_path / "model.bin")
    with pytest.raises(ModelError, match="imgsz=128 was asked for"):
        OnnxPredictor(ultralytics_onnx, imgsz=128)
    with pytest.raises(YolopsError, match="image 1 of the batch: expected an RGB uint8 array"):
        OnnxPredictor(ultralytics_onnx).predict(
            [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)]
        )


def test_graph_that_is_not_a_detector(tmp_path):
    path = tmp_path / "classifier.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5)),
            (torch.zeros(1, 3, 8, 8),),
            str(path),
            dynamo=False,
            input_names=["images"],
        )
    with pytest.raises(ModelError, match="classifier.onnx: unsupported detection graph"):
        OnnxPredictor(path)


def test_checkpoint_on_cpu_uses_a_cached_onnx_export(checkpoint):
    onnx_path = checkpoint.with_suffix(".onnx")
    onnx_path.unlink(missing_ok=True)
    p = load_predictor(checkpoint, device="cpu")
    assert isinstance(p, OnnxPredictor) and p.path == onnx_path and onnx_path.is_file()
    assert p.class_names == ("a", "b") and p.imgsz == 64
    first = onnx_path.stat().st_mtime_ns
    load_predictor(checkpoint, device="cpu")
    assert onnx_path.stat().st_mtime_ns == first  # reused
    later = time.time() + 5
    os.utime(checkpoint, (later, later))  # the checkpoint is now newer than its export
    load_predictor(checkpoint, device="cpu")
    assert onnx_path.stat().st_mtime_ns != first  # exported again
    assert isinstance(load_predictor(checkpoint, backend="torch", device="cpu"), TorchPredictor)
    assert isinstance(load_predictor(onnx_path), OnnxPredictor)
    with pytest.raises(ModelError, match="cannot run on the torch backend"):
        load_predictor(onnx_path, backend="torch")


def test_torch_predictor_returns_canonical_detections(checkpoint):
    p = TorchPredictor.from_checkpoint(checkpoint, device="cpu")
    assert p.class_names == ("a", "b") and p.imgsz == 64
    dets = p.predict(
        [np.zeros((50, 70, 3), np.uint8), np.full((30, 20, 3), 200, np.uint8)], conf=0.0, max_det=7
    )
    assert len(dets) == 2
    for d in dets:
        assert len(d) == 7  # conf 0 lets every anchor through, max_det caps them
        assert (
            d.boxes.dtype == np.float32
            and d.scores.dtype == np.float32
            and d.classes.dtype == np.int64
        )
        assert d.class_names == ("a", "b")
    assert p.predict([]) == []


def test_predict_source_streams_in_order_and_batches(tmp_path, ultralytics_onnx):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"im{i}.png"), np.full((64, 128, 3), i, np.uint8))
    p = OnnxPredictor(ultralytics_onnx)
    calls = []
    predict = p.predict
    p.predict = lambda images, **kw: calls.append(len(images)) or predict(images, **kw)
    out = list(predict_source(p, folder, batch=2))
    assert calls == [2, 2, 1]
    assert [os.path.basename(name) for name, _, _ in out] == [f"im{i}.png" for i in range(5)]
    name, image, det = out[3]
    assert image.shape == (64, 128, 3) and image[0, 0, 0] == 3
    np.testing.assert_allclose(det.boxes[0], [44, 22, 84, 42], atol=1e-4)
    arrays = list(predict_source(p, [np.zeros((64, 64, 3), np.uint8)], conf=0.5))
    assert arrays[0][0] == "array_000000" and arrays[0][2].classes.tolist() == [0, 1]
