"""ONNX export: the graphs, their metadata, and parity with PyTorch."""

import copy
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from yolops.data.synth import SynthConfig, generate, render_scene
from yolops.errors import ConfigError, ModelError
from yolops.infer.export import RawGraph, export_onnx, read_metadata
from yolops.infer.parity import compare_detections, parity_report
from yolops.infer.predictor import OnnxPredictor, TorchPredictor, prepare_batch
from yolops.model.checkpoint import save_checkpoint
from yolops.model.yolo import build_model

NAMES = ("circle", "square", "triangle")
IMGSZ = 192


def scenes(n: int, seed: int = 0) -> list[np.ndarray]:
    sizes = [(320, 240), (200, 300), (480, 160), (256, 256)]
    return [
        render_scene(np.random.default_rng([seed, i]), *sizes[i % 4], SynthConfig()).image
        for i in range(n)
    ]


def emitting_model() -> nn.Module:
    """A random-init n model that emits a few hundred confident, varied boxes.

    At initialisation the activations collapse towards zero (BatchNorm running stats
    are 0/1), so every anchor scores the same and NMS ties decide everything. One
    training-mode pass with momentum 1 sets the running stats to real batch stats
    (activations of unit scale); the class bias then puts ~2.5 sigma of logits above 0.
    """
    torch.manual_seed(0)
    model = build_model("n", len(NAMES))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
    x = torch.from_numpy(prepare_batch(scenes(4, seed=99), IMGSZ)[0])
    model.train()
    with torch.no_grad():
        model(x)
        model.eval()
        logits = model(x).cls_logits
        for cls in model.head.cls:
            cls[-1].bias.sub_(logits.mean() + 2.5 * logits.std())
    return model


@pytest.fixture(scope="module")
def model():
    return emitting_model()


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(
        path,
        {"model": model.state_dict(), "scale": "n", "class_names": list(NAMES), "imgsz": IMGSZ},
    )
    return path


@pytest.fixture(scope="module")
def raw_onnx(checkpoint):
    return export_onnx(checkpoint, checkpoint.with_name("raw.onnx"), dynamic_batch=True)


@pytest.fixture(scope="module")
def predictors(checkpoint, raw_onnx):
    return TorchPredictor.from_checkpoint(checkpoint, device="cpu"), OnnxPredictor(raw_onnx)


def test_fresh_model_raw_graph_matches_torch_and_carries_metadata(tmp_path):
    torch.manual_seed(1)
    model = build_model("n", 80)
    path = export_onnx(model, tmp_path / "fresh.onnx", imgsz=256)
    meta = read_metadata(path)
    assert (
        meta["kind"] == "raw"
        and meta["imgsz"] == "256"
        and meta["scale"] == "n"
        and meta["stride"] == "32"
    )
    assert json.loads(meta["names"]) == [str(i) for i in range(80)]  # a bare model: ids as names
    assert "yolops_version" in meta
    proto = onnx.load(str(path))
    assert not any(
        n.op_type == "BatchNormalization" for n in proto.graph.node
    )  # fused before export
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [inp], [out] = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, out.name) == ("images", [1, 3, 256, 256], "predictions")
    x = torch.rand(1, 3, 256, 256)
    [got] = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        want = RawGraph(copy.deepcopy(model).eval()).eval()(x).numpy()  # unfused reference
    assert got.shape == (1, 84, (32 * 32 + 16 * 16 + 8 * 8))
    np.testing.assert_allclose(got[:, :4], want[:, :4], atol=1e-3)  # pixels
    np.testing.assert_allclose(got[:, 4:], want[:, 4:], atol=1e-5)  # probabilities
    assert model.head.cls[0][0][0].bn.__class__ is nn.BatchNorm2d  # the caller's model is not fused


def test_onnx_runtime_gives_the_torch_detections(predictors):
    torch_p, onnx_p = predictors
    images = scenes(4)
    reference, other = torch_p.predict(images), onnx_p.predict(images)
    report = compare_detections(reference, other)
    assert report["boxes_reference"] >= 40  # the test means something only with boxes
    assert report["unmatched"] == 0
    assert report["min_iou"] >= 0.99
    assert report["class_agreement"] == 1.0
    assert report["max_score_diff"] <= 1e-3
    assert onnx_p.class_names == NAMES and onnx_p.imgsz == IMGSZ


def test_dynamic_batch_gives_the_same_as_one_at_a_time(predictors, raw_onnx, checkpoint, tmp_path):
    _, onnx_p = predictors
    assert isinstance(onnx_p.session.get_inputs()[0].shape[0], str)
    images = scenes(3, seed=5)
    batched = onnx_p.predict(images)
    single = [onnx_p.predict([image])[0] for image in images]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_array_equal(a.classes, b.classes)
    # A static-batch graph takes a batch of 3 too (run one by one).
    static = OnnxPredictor(export_onnx(checkpoint, tmp_path / "static.onnx"))
    assert static.session.get_inputs()[0].shape[0] == 1
    report = compare_detections(batched, static.predict(images))
    assert report["unmatched"] == 0 and report["min_iou"] >= 0.99


def test_end2end_graph_gives_raw_plus_our_nms(checkpoint, predictors, tmp_path):
    _, raw_p = predictors
    path = export_onnx(
        checkpoint,
        tmp_path / "e2e.onnx",
        end2end=True,
        dynamic_batch=True,
        conf=0.25,
        iou=0.7,
        max_det=300,
    )
    meta = read_metadata(path)
    assert (meta["kind"], float(meta["conf"]), float(meta["iou"]), meta["max_det"]) == (
        "end2end",
        0.25,
        0.7,
        "300",
    )
    e2e = OnnxPredictor(path)
    assert e2e.kind == "end2end" and e2e.class_names == NAMES
    images = scenes(3)
    want, got = raw_p.predict(images), e2e.predict(images)
    report = compare_detections(want, got)
    assert report["boxes_reference"] >= 40
    assert report["unmatched"] == 0 and report["min_iou"] >= 0.999
    assert report["class_agreement"] == 1.0 and report["max_score_diff"] <= 1e-5
    # The padded layout: K = max_det rows, padding is box 0, score 0, class -1.
    x, _ = prepare_batch(images, IMGSZ)
    boxes, scores, classes, num = e2e.session.run(None, {"images": x})
    assert (
        boxes.shape == (3, 300, 4)
        and scores.shape == classes.shape == (3, 300)
        and num.shape == (3,)
    )
    assert num.tolist() == [len(d) for d in want]
    n = num[0]
    assert (classes[0, n:] == -1).all() and (scores[0, n:] == 0).all() and (boxes[0, n:] == 0).all()
    assert (np.diff(scores[0, :n]) <= 0).all()
    # A stricter conf and a class filter apply on top of the baked NMS.
    strict = e2e.predict(images, conf=0.5, classes=[1])
    for d, ref in zip(strict, want):
        keep = (ref.scores >= 0.5) & (ref.classes == 1)
        assert len(d) == keep.sum() and set(d.classes.tolist()) <= {1}


def test_end2end_max_det_keeps_the_best(checkpoint, predictors, tmp_path):
    _, raw_p = predictors
    e2e = OnnxPredictor(export_onnx(checkpoint, tmp_path / "top5.onnx", end2end=True, max_det=5))
    images = scenes(2)
    for got, want in zip(e2e.predict(images), raw_p.predict(images, max_det=5)):
        assert len(got) == 5
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)


def test_simplify_keeps_the_outputs(model, tmp_path):
    plain = export_onnx(model, tmp_path / "plain.onnx", imgsz=128, class_names=NAMES)
    simple = export_onnx(
        model, tmp_path / "simple.onnx", imgsz=128, class_names=NAMES, simplify=True
    )
    x = {"images": np.random.default_rng(0).random((1, 3, 128, 128), np.float32)}
    a = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"]).run(None, x)[0]
    b = ort.InferenceSession(str(simple), providers=["CPUExecutionProvider"]).run(None, x)[0]
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert read_metadata(simple)["names"] == '["circle", "square", "triangle"]'


def test_export_errors(model, tmp_path):
    with pytest.raises(ModelError, match="nope.pt: checkpoint file does not exist"):
        export_onnx(tmp_path / "nope.pt", tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="multiple of 32"):
        export_onnx(model, tmp_path / "x.onnx", imgsz=300)
    with pytest.raises(ModelError, match="3 classes but 2 class names"):
        export_onnx(model, tmp_path / "x.onnx", class_names=["a", "b"])
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_parity_report_on_images_and_on_a_dataset(checkpoint, raw_onnx, tmp_path):
    report = parity_report(checkpoint, raw_onnx, images=scenes(2), runs=3)
    assert report["images"] == 2 and report["matched"] > 0 and report["unmatched"] == 0
    assert report["images_from"] == "2 given images"
    assert report["min_iou"] >= 0.99 and report["class_agreement"] == 1.0
    assert report["latency_ms"]["torch"] > 0 and report["latency_ms"]["onnx"] > 0
    config = SynthConfig(
        num_images=4, image_size=(160, 120), splits={"train": 0.5, "val": 0.5}, seed=2
    )
    dataset = generate(tmp_path / "shapes", config)
    report = parity_report(checkpoint, raw_onnx, dataset=dataset, runs=2)
    assert report["images"] == 2  # the val split
    assert report["images_from"] == f"the first 2 images of {dataset.name}'s val split"
    assert report["map50_95"]["onnx"] == pytest.approx(report["map50_95"]["torch"], abs=1e-3)
    assert report["map50"]["onnx"] == pytest.approx(report["map50"]["torch"], abs=1e-3)
