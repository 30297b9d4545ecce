"""Every registered model scale (yolops.model.yolo.SCALES): output shapes in training and
evaluation, decoding, gradients through the real loss, the size report, BatchNorm fusion
and ONNX export parity. A scale added to SCALES is tested here without further edits."""

from __future__ import annotations

import copy

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yolops.errors import ConfigError
from yolops.infer.export import export_onnx, read_metadata
from yolops.infer.parity import compare_detections
from yolops.infer.predictor import OnnxPredictor, TorchPredictor, prepare_batch
from yolops.model.boxes import aligned_box_iou, cxcywh_to_xyxy
from yolops.model.loss import DetectionLoss
from yolops.model.yolo import REG_MAX, SCALES, STRIDES, anchor_grid, build_model, decode

SCALE_NAMES = list(SCALES)  # declared smallest first
IMGSZ, BATCH = 64, 2
ANCHORS = sum((IMGSZ // s) ** 2 for s in STRIDES)  # 64 + 16 + 4 at 64x64


def fresh_model(scale: str, nc: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(scale, nc)


def images(n: int = BATCH, size: int = IMGSZ, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def targets(nc: int) -> torch.Tensor:
    """Two boxes on image 0 and one on image 1, rows [image, class, x1, y1, x2, y2] in pixels."""
    return torch.tensor(
        [
            [0, 0 % nc, 8.0, 10.0, 40.0, 38.0],
            [0, 1 % nc, 30.0, 28.0, 60.0, 62.0],
            [1, 2 % nc, 12.0, 4.0, 28.0, 30.0],
        ]
    )


def lively_model(scale: str, x: torch.Tensor, nc: int = 3, seed: int = 0) -> nn.Module:
    """An eval-mode model whose outputs on ``x`` vary from anchor to anchor, so that
    comparisons mean something (at initialisation BatchNorm is the identity, activations
    fade to nothing and every class score is ~1e-4).

    The BatchNorm affine parameters are drawn at random and each BatchNorm's running stats
    are set to the mean and variance of its input in one training-mode pass over ``x``, the
    variance floored at 0.1: at 64x64 the stride-32 maps are 2x2, some channels are nearly
    constant there, and a variance near 0 would scale them up ~30x (1 / sqrt(eps)), so that
    float32 rounding alone moved the logits by ~1e-3. The class biases are then shifted so
    that the logits on ``x`` centre on 0 (scores spread over (0, 1))."""
    model = fresh_model(scale, nc, seed)
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]

    def set_stats(bn: nn.BatchNorm2d, inputs: tuple[torch.Tensor]) -> None:
        z = inputs[0]
        bn.running_mean.copy_(z.mean((0, 2, 3)))
        bn.running_var.copy_(z.var((0, 2, 3), unbiased=False).clamp(min=0.1))

    hooks = []
    with torch.no_grad():
        for bn in bns:
            bn.momentum = 0.0  # the pass itself leaves the running stats to the hook
            bn.weight.uniform_(0.5, 1.5, generator=gen)
            bn.bias.normal_(0.0, 0.2, generator=gen)
            hooks.append(bn.register_forward_pre_hook(set_stats))
        try:
            model.train()(x)
        finally:
            for hook in hooks:
                hook.remove()
        model.eval()
        logits = model(x).cls_logits
        for cls in model.head.cls:
            cls[-1].bias.sub_(logits.mean())
    for bn in bns:
        bn.momentum = 0.1
    return model


def all_finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


# -- forward, decode ---------------------------------------------------------------------


@pytest.mark.parametrize("nc", [1, 3])
@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_forward_shapes_in_train_and_eval(scale, nc):
    """Both modes return the same HeadOutput layout: (B, A, 4 * reg_max) box logits,
    (B, A, nc) class logits, the anchor grid of the input finest stride first, all finite."""
    model = fresh_model(scale, nc)
    want_anchors, want_strides = anchor_grid(IMGSZ, IMGSZ)
    assert len(want_anchors) == ANCHORS
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            out = model(images())
        assert out.box_dist.shape == (BATCH, ANCHORS, 4 * REG_MAX)
        assert out.cls_logits.shape == (BATCH, ANCHORS, nc)
        assert torch.equal(out.anchors, want_anchors) and torch.equal(out.strides, want_strides)
        assert out.strides.tolist() == [8.0] * 64 + [16.0] * 16 + [32.0] * 4
        assert all_finite(out.box_dist, out.cls_logits)
    # A non-square input (multiples of 32) lays out its own grid.
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1)))
    anchors, strides = anchor_grid(64, 96)
    assert len(anchors) == 8 * 12 + 4 * 6 + 2 * 3
    assert out.cls_logits.shape == (1, len(anchors), nc)
    assert torch.equal(out.anchors, anchors) and torch.equal(out.strides, strides)


@pytest.mark.parametrize("nc", [1, 3])
@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_decode_gives_boxes_around_their_anchors_and_probabilities(scale, nc):
    """decode(): (B, A, 4) xyxy boxes that contain their anchor point, no wider than the
    largest distance the head can express ((reg_max - 1) strides a side), and (B, A, nc)
    scores in [0, 1]."""
    model = fresh_model(scale, nc).eval()
    with torch.no_grad():
        out = model(images())
        boxes, scores = decode(out)
    assert boxes.shape == (BATCH, ANCHORS, 4) and scores.shape == (BATCH, ANCHORS, nc)
    assert all_finite(boxes, scores)
    assert ((scores >= 0) & (scores <= 1)).all()
    cx, cy = out.anchors[:, 0], out.anchors[:, 1]
    assert (boxes[..., 0] <= cx).all() and (boxes[..., 2] >= cx).all()
    assert (boxes[..., 1] <= cy).all() and (boxes[..., 3] >= cy).all()
    reach = (REG_MAX - 1) * out.strides * (1 + 1e-5)
    assert ((boxes[..., 2] - boxes[..., 0]) <= 2 * reach).all()
    assert ((boxes[..., 3] - boxes[..., 1]) <= 2 * reach).all()


def test_unknown_scale_and_no_classes_are_refused():
    """build_model names the scales it knows; a detector needs at least one class."""
    with pytest.raises(ConfigError, match=", ".join(SCALE_NAMES)):
        build_model("xl", 3)
    with pytest.raises(ConfigError, match="at least one class"):
        build_model(SCALE_NAMES[0], 0)


# -- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("nc", [1, 3])
@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_loss_backward_reaches_every_parameter(scale, nc):
    """One training step as the trainer takes it (train mode, DetectionLoss on the head
    output, total.backward()): the loss and its parts are finite and positive, and every
    trainable parameter gets a finite gradient that is not all zeros (no part of the
    network is dead or detached), and BatchNorm running stats stay finite."""
    model = fresh_model(scale, nc).train()
    loss_fn = DetectionLoss(nc, model.reg_max)
    parts = loss_fn(model(images()), targets(nc))
    assert all_finite(parts.total, parts.box, parts.cls, parts.dfl)
    assert parts.box > 0 and parts.cls > 0 and parts.dfl > 0
    parts.total.backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert params
    missing = [n for n, p in params if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    bad = [n for n, p in params if not all_finite(p.grad)]
    assert not bad, f"non-finite gradients: {bad}"
    zero = [n for n, p in params if not p.grad.abs().sum() > 0]
    assert not zero, f"parameters with an all-zero gradient: {zero}"
    assert all_finite(*model.buffers())


# -- size report -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_info_counts_parameters_and_convolution_flops(scale):
    """info(): params is every parameter; gflops is 2 x the multiply-adds of the
    convolutions, as torch's own FLOP counter finds them; it scales with the pixel count;
    and the dummy pass leaves the mode and the BatchNorm statistics as they were."""
    model = fresh_model(scale, 3).train()
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    info = model.info(IMGSZ)
    assert model.training
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in buffers.items())
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["layers"] > 0
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.eval()(torch.zeros(1, 3, IMGSZ, IMGSZ))
    assert info["gflops"] > 0
    assert info["gflops"] * 1e9 == pytest.approx(counter.get_total_flops(), rel=1e-9)
    assert model.info(2 * IMGSZ)["gflops"] == pytest.approx(4 * info["gflops"], rel=1e-9)


def test_info_grows_with_scale():
    """SCALES is listed smallest first: parameters and GFLOPs rise strictly along it."""
    infos = [fresh_model(scale, 3).info(IMGSZ) for scale in SCALE_NAMES]
    params = [i["params"] for i in infos]
    gflops = [i["gflops"] for i in infos]
    assert all(a < b for a, b in zip(params, params[1:])), dict(zip(SCALE_NAMES, params))
    assert all(a < b for a, b in zip(gflops, gflops[1:])), dict(zip(SCALE_NAMES, gflops))


# -- fusion ------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_fuse_keeps_eval_outputs(scale):
    """fuse() folds every BatchNorm (non-trivial statistics and affine parameters here) into
    its convolution: no BatchNorm is left, the convolution count is unchanged, the raw
    outputs agree with the unfused model's to 1e-4 in float32 and to 1e-9 in float64 (the
    fold is exact algebra), and fusing twice changes nothing."""
    x = images(seed=3)
    model = lively_model(scale, x)
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    fused = copy.deepcopy(model)
    assert fused.fuse() is fused
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in fused.modules()) == convs
    with torch.no_grad():
        want, got = model(x), fused(x)
        want64 = copy.deepcopy(model).double()(x.double())
        got64 = copy.deepcopy(model).double().fuse()(x.double())
        again = fused.fuse()(x)
    assert want.box_dist.std() > 0.1 and want.cls_logits.std() > 0.5  # not near-constants
    torch.testing.assert_close(got.box_dist, want.box_dist, atol=1e-4, rtol=0)
    torch.testing.assert_close(got.cls_logits, want.cls_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(got64.box_dist, want64.box_dist, atol=1e-9, rtol=0)
    torch.testing.assert_close(got64.cls_logits, want64.cls_logits, atol=1e-9, rtol=0)
    assert torch.equal(again.box_dist, got.box_dist)
    assert torch.equal(again.cls_logits, got.cls_logits)


# -- ONNX export -------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALE_NAMES)
def test_onnx_raw_export_matches_torch(scale, tmp_path):
    """The raw graph at imgsz 64 (dynamic batch) run by ONNX Runtime gives, anchor by
    anchor, the boxes (IoU >= 0.99) and scores (within 1e-3) of the PyTorch model."""
    x = images(seed=4)
    model = lively_model(scale, x)
    path = export_onnx(model, tmp_path / f"{scale}.onnx", imgsz=IMGSZ, dynamic_batch=True)
    meta = read_metadata(path)
    assert (meta["scale"], meta["kind"], meta["imgsz"]) == (scale, "raw", str(IMGSZ))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [pred] = session.run(None, {"images": x.numpy()})
    assert pred.shape == (BATCH, 4 + 3, ANCHORS)
    assert np.isfinite(pred).all()
    with torch.no_grad():
        want_boxes, want_scores = decode(model(x))
    got = torch.from_numpy(pred).transpose(1, 2)  # (B, A, 4 + nc)
    iou = aligned_box_iou(cxcywh_to_xyxy(got[..., :4]), want_boxes)
    assert iou.min() >= 0.99
    assert (got[..., 4:] - want_scores).abs().max() <= 1e-3
    assert want_scores.std() > 0.1  # scores spread over (0, 1): 1e-3 is a real tolerance


def test_onnx_end2end_export_matches_torch_predictor(tmp_path):
    """The smallest scale's end2end graph (NMS inside) predicts, through OnnxPredictor, the
    detections TorchPredictor finds: every box matched with IoU >= 0.99, same classes,
    scores within 1e-3."""
    scale = SCALE_NAMES[0]
    rng = np.random.default_rng(5)
    batch = [rng.integers(0, 256, (IMGSZ, IMGSZ, 3), dtype=np.uint8) for _ in range(BATCH)]
    model = lively_model(scale, torch.from_numpy(prepare_batch(batch, IMGSZ)[0]))
    names = ["a", "b", "c"]
    path = export_onnx(
        model,
        tmp_path / "e2e.onnx",
        imgsz=IMGSZ,
        end2end=True,
        dynamic_batch=True,
        class_names=names,
        conf=0.25,
        iou=0.7,
        max_det=100,
    )
    onnx_p = OnnxPredictor(path, providers=["CPUExecutionProvider"])
    assert onnx_p.kind == "end2end" and onnx_p.class_names == tuple(names)
    torch_p = TorchPredictor(model, names, IMGSZ, device="cpu")
    report = compare_detections(
        torch_p.predict(batch, conf=0.25, iou=0.7, max_det=100),
        onnx_p.predict(batch, conf=0.25, iou=0.7, max_det=100),
    )
    assert report["boxes_reference"] >= 10, report  # something to compare
    assert report["unmatched"] == 0, report
    assert report["min_iou"] >= 0.99 and report["class_agreement"] == 1.0, report
    assert report["max_score_diff"] <= 1e-3, report
