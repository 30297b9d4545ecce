"""Export a yolops detector to ONNX, and check the export against PyTorch.

Two graphs (their inputs and outputs are documented in :mod:`yolops.infer.predictor`):

- ``raw``: the network and box decoding; output ``predictions`` (B, 4 + nc, A),
  centre-size boxes in input pixels and sigmoid class scores (the Ultralytics
  YOLOv8 layout, so tools written for it read ours). NMS runs outside, in
  :func:`yolops.model.postprocess.postprocess`.
- ``end2end``: the same plus ONNX ``NonMaxSuppression`` inside the graph, with
  ``conf``, ``iou`` and ``max_det`` baked in (and recorded in the metadata).

Both are traced with the TorchScript exporter (``dynamo=False``): it maps our
NMS placeholder to the ONNX operator through a ``symbolic`` method, and exports the
network in seconds. Metadata (``metadata_props``): ``yolops_version``, ``names``
(JSON list), ``imgsz``, ``scale``, ``kind`` (``raw`` | ``end2end``), ``stride``,
and for end2end ``conf``, ``iou``, ``max_det``.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from yolops._version import __version__
from yolops.data.dataset import Dataset
from yolops.data.images import read_image
from yolops.detections import Detections
from yolops.errors import ConfigError, ModelError
from yolops.model.boxes import box_iou, xyxy_to_cxcywh
from yolops.model.yolo import YOLO, decode

INPUT_NAME = "images"


# -- graphs ------------------------------------------------------------------------------


class RawGraph(nn.Module):
    """(B, 3, S, S) float32 RGB in [0, 1] -> ``predictions`` (B, 4 + nc, A):
    cx, cy, w, h in input pixels, then sigmoid class scores."""

    def __init__(self, model: YOLO):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        boxes, scores = decode(self.model(images))  # (B, A, 4) xyxy, (B, A, nc)
        return torch.cat((xyxy_to_cxcywh(boxes), scores), -1).transpose(1, 2)


class _NonMaxSuppression(torch.autograd.Function):
    """ONNX NonMaxSuppression: boxes (B, A, 4) xyxy, scores (B, C, A) -> selected
    (K, 3) int64 rows (batch, class, box), per class, keeping boxes scoring above
    ``conf`` that overlap a better one by at most ``iou``, ``max_out`` per class.

    Only the exporter uses this: ``symbolic`` emits the ONNX operator; the eager
    ``forward`` returns an empty selection of the right type so that tracing runs
    (the traced graph never sees its values)."""

    @staticmethod
    def forward(
        ctx, boxes: Tensor, scores: Tensor, max_out: Tensor, iou: Tensor, conf: Tensor
    ) -> Tensor:
        return torch.zeros((0, 3), dtype=torch.int64, device=boxes.device)

    @staticmethod
    def symbolic(g, boxes, scores, max_out, iou, conf):
        return g.op("NonMaxSuppression", boxes, scores, max_out, iou, conf, center_point_box_i=0)


class End2EndGraph(nn.Module):
    """(B, 3, S, S) -> boxes (B, K, 4) xyxy input pixels, scores (B, K), classes (B, K)
    int64, num_detections (B,) int64; K = min(max_det, A), sorted by score, padded with
    box 0, score 0, class -1. Each anchor keeps only its best class (as
    :func:`yolops.model.postprocess.postprocess` does), so NMS runs per class on the
    anchors whose best class it is."""

    def __init__(self, model: YOLO, conf: float, iou: float, max_det: int):
        super().__init__()
        self.model = model
        self.conf, self.iou, self.max_det = conf, iou, max_det

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        boxes, scores = decode(self.model(images))  # (B, A, 4), (B, A, nc)
        b, a, nc = scores.shape
        best, label = scores.max(-1)  # (B, A)
        is_best = torch.arange(nc, device=images.device)[None, :, None] == label[:, None, :]
        class_scores = scores.transpose(1, 2) * is_best  # (B, nc, A): zero except the best class
        selected = _NonMaxSuppression.apply(
            boxes,
            class_scores,
            torch.tensor([self.max_det]),
            torch.tensor([self.iou]),
            torch.tensor([self.conf]),
        )
        flat = selected[:, 0] * a + selected[:, 2]  # (K,) index into B * A
        kept = torch.zeros(b * a, dtype=best.dtype, device=images.device)
        kept = kept.scatter(0, flat, torch.ones_like(flat, dtype=best.dtype)).view(
            b, a
        )  # (B, A) 0/1
        top, idx = (best * kept).topk(min(self.max_det, a), 1)  # (B, K), sorted by score
        valid = kept.gather(1, idx) > 0  # (B, K)
        out_boxes = boxes.gather(1, idx[..., None].expand(-1, -1, 4)) * valid[..., None]
        out_classes = torch.where(valid, label.gather(1, idx), torch.full_like(idx, -1))
        return out_boxes, top * valid, out_classes, valid.sum(1)


# -- export -------------------------------------------------------------------------------


def export_onnx(
    checkpoint_or_model: str | Path | YOLO,
    out_path: str | Path,
    imgsz: int | None = None,
    opset: int = 17,
    dynamic_batch: bool = False,
    end2end: bool = False,
    simplify: bool = False,
    class_names: Sequence[str] | None = None,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
) -> Path:
    """Write an ONNX graph of a checkpoint (path) or a :class:`YOLO` to ``out_path``.

    ``imgsz`` and ``class_names`` default to the checkpoint's (for a bare model: 640
    and the class ids as names). BatchNorm is folded into the convolutions first (on a
    copy). ``simplify`` runs the onnxscript optimizer (constant folding, dead-code
    removal) over the traced graph. The file is written atomically and checked with
    ``onnx.checker``. Returns ``out_path``.
    """
    model, names, size, scale = _resolve_model(checkpoint_or_model, imgsz, class_names)
    if size <= 0 or size % max(model.strides):
        raise ConfigError(f"imgsz must be a positive multiple of {max(model.strides)}, got {size}")
    if not 0 <= conf < 1 or not 0 < iou <= 1 or max_det < 1:
        raise ConfigError(
            f"end2end needs 0 <= conf < 1, 0 < iou <= 1, max_det >= 1; got {conf}, {iou}, {max_det}"
        )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        graph = End2EndGraph(model, conf, iou, max_det) if end2end else RawGraph(model)
        outputs = ["boxes", "scores", "classes", "num_detections"] if end2end else ["predictions"]
        _trace(graph, size, tmp, opset, outputs, dynamic_batch)
        proto = onnx.load(str(tmp))
        if simplify:
            proto = _simplify(proto)
        meta = {
            "yolops_version": __version__,
            "names": json.dumps(list(names)),
            "imgsz": str(size),
            "scale": scale,
            "kind": "end2end" if end2end else "raw",
            "stride": str(max(model.strides)),
        }
        if end2end:
            meta.update(conf=repr(float(conf)), iou=repr(float(iou)), max_det=str(int(max_det)))
        onnx.helper.set_model_props(proto, meta)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


def _resolve_model(
    source: str | Path | YOLO,
    imgsz: int | None,
    class_names: Sequence[str] | None,
) -> tuple[YOLO, tuple[str, ...], int, str]:
    """A fused eval-mode CPU float32 copy, the class names, the input size and the scale."""
    if isinstance(source, YOLO):
        model, default_names, default_size = (
            source,
            tuple(str(i) for i in range(source.num_classes)),
            640,
        )
    else:
        from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint

        state = load_checkpoint(source)
        model = model_from_checkpoint(state, str(source))
        default_names, default_size = tuple(state["class_names"]), int(state["imgsz"])
    names = tuple(class_names) if class_names is not None else default_names
    if len(names) != model.num_classes:
        raise ModelError(
            f"model has {model.num_classes} classes but {len(names)} class names were given"
        )
    model = copy.deepcopy(model).float().cpu().eval().fuse()
    return model, names, int(imgsz or default_size), model.scale


def _trace(
    graph: nn.Module, size: int, path: Path, opset: int, outputs: list[str], dynamic_batch: bool
) -> None:
    example = torch.zeros(1, 3, size, size)
    axes = {name: {0: "batch"} for name in [INPUT_NAME, *outputs]} if dynamic_batch else None
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; it is the one that
        # honours ``symbolic`` (see the module docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with torch.no_grad():
            torch.onnx.export(
                graph,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=outputs,
                dynamic_axes=axes,
                do_constant_folding=True,
            )


def _simplify(proto: onnx.ModelProto) -> onnx.ModelProto:
    import onnxscript.optimizer

    try:
        return onnxscript.optimizer.optimize(proto)
    except (
        Exception
    ) as e:  # the optimizer is best-effort; say so rather than ship a half-done graph
        raise ModelError(
            f"simplify failed ({type(e).__name__}: {e}); export without simplify"
        ) from None


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict."""
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise ModelError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    return {p.key: p.value for p in proto.metadata_props}


# -- parity -------------------------------------------------------------------------------


def match_detections(a: Detections, b: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of two detection sets by IoU (Hungarian, class-agnostic):
    indices into ``a`` (M,), into ``b`` (M,), and their IoU (M,), pairs with IoU > 0 only."""
    if len(a) == 0 or len(b) == 0:
        empty = np.zeros((0,), np.int64)
        return empty, empty, np.zeros((0,), np.float32)
    ious = box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).numpy()  # (Na, Nb)
    rows, cols = linear_sum_assignment(-ious)
    keep = ious[rows, cols] > 0
    return rows[keep], cols[keep], ious[rows, cols][keep]


def compare_detections(reference: Sequence[Detections], other: Sequence[Detections]) -> dict:
    """How closely ``other`` reproduces ``reference``, image by image.

    ``min_iou``: the lowest IoU of a matched pair (1.0 with no boxes); ``class_agreement``:
    the share of matched pairs with the same class; ``max_score_diff``: the largest
    score difference of a matched pair; ``unmatched``: boxes in either set left without
    a partner."""
    ious, same, diffs, unmatched = [], 0, [], 0
    for ref, oth in zip(reference, other):
        i, j, iou = match_detections(ref, oth)
        ious.extend(iou.tolist())
        same += int((ref.classes[i] == oth.classes[j]).sum())
        diffs.extend(np.abs(ref.scores[i] - oth.scores[j]).tolist())
        unmatched += len(ref) + len(oth) - 2 * len(i)
    return {
        "boxes_reference": sum(len(d) for d in reference),
        "boxes_other": sum(len(d) for d in other),
        "matched": len(ious),
        "unmatched": unmatched,
        "min_iou": min(ious, default=1.0),
        "class_agreement": same / len(ious) if ious else 1.0,
        "max_score_diff": max(diffs, default=0.0),
    }


def time_predict(predictor, image: np.ndarray, runs: int = 50, warmup: int = 5) -> float:
    """Median milliseconds of one ``predictor.predict([image])`` call (batch 1), after warmup."""
    for _ in range(warmup):
        predictor.predict([image])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor.predict([image])
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def parity_report(
    checkpoint: str | Path,
    onnx_path: str | Path,
    dataset: Dataset | None = None,
    images: Sequence[np.ndarray] | None = None,
    conf: float = 0.25,
    iou: float = 0.7,
    runs: int = 50,
) -> dict:
    """Run the PyTorch checkpoint and its ONNX export on the same images and compare.

    Images: ``images``, else up to 16 of ``dataset`` (its val split when it has one),
    else 8 generated scenes. Returns :func:`compare_detections`' keys (torch is the
    reference) plus ``images``, ``latency_ms`` ({"torch", "onnx"}: median of ``runs``
    whole predict calls on one image after warmup, both on the CPU) and, when
    ``dataset`` is given, ``map50_95`` and ``map50`` ({"torch", "onnx"}) on that split
    at conf 0.001. The ONNX graph must be ``raw``: an end2end graph's baked thresholds
    would make the mAP comparison meaningless.
    """
    from yolops.infer.predictor import OnnxPredictor, TorchPredictor

    torch_p = TorchPredictor.from_checkpoint(checkpoint, device="cpu")
    onnx_p = OnnxPredictor(onnx_path, providers=["CPUExecutionProvider"])
    if onnx_p.class_names != torch_p.class_names or onnx_p.imgsz != torch_p.imgsz:
        raise ModelError(
            f"{onnx_path}: classes/imgsz {list(onnx_p.class_names)}/{onnx_p.imgsz} differ from "
            f"{checkpoint}'s {list(torch_p.class_names)}/{torch_p.imgsz}"
        )
    split = _eval_split(dataset) if dataset is not None else None
    if images is None:
        images = (
            [read_image(r.path) for r in split.records[:16]] if split is not None else _scenes(8)
        )
    images = list(images)
    reference = torch_p.predict(images, conf=conf, iou=iou)
    report = {
        "images": len(images),
        **compare_detections(reference, onnx_p.predict(images, conf=conf, iou=iou)),
    }
    report["latency_ms"] = {
        "torch": time_predict(torch_p, images[0], runs),
        "onnx": time_predict(onnx_p, images[0], runs),
    }
    if split is not None:
        if onnx_p.kind != "raw":
            raise ModelError(
                f"{onnx_path}: mAP parity needs a raw graph, this one is {onnx_p.kind}"
            )
        scores = {name: _map(p, split) for name, p in (("torch", torch_p), ("onnx", onnx_p))}
        report["map50_95"] = {k: v[0] for k, v in scores.items()}
        report["map50"] = {k: v[1] for k, v in scores.items()}
    return report


def _eval_split(dataset: Dataset) -> Dataset:
    return dataset.split("val") if "val" in dataset.splits else dataset


def _scenes(n: int) -> list[np.ndarray]:
    from yolops.data.synth import SynthConfig, render_scene

    config = SynthConfig()
    return [
        render_scene(np.random.default_rng([7, i]), 320 + 32 * i, 240, config).image
        for i in range(n)
    ]


def _map(predictor, split: Dataset, batch: int = 8) -> tuple[float, float]:
    from yolops.model.evaluate import evaluate

    predictions: dict[str, Detections] = {}
    records = list(split.records)
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        dets = predictor.predict([read_image(r.path) for r in chunk], conf=0.001)
        predictions.update({r.id: d for r, d in zip(chunk, dets)})
    result = evaluate(split, predictions)
    return result.map50_95, result.map50
