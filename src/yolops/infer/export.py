"""Export a yolops detector to ONNX, and check the export against PyTorch.

Two graphs (their inputs and outputs are documented in :mod:`yolops.infer.predictor`):

- ``raw``: the network and box decoding; output ``predictions`` (B, 4 + C, A),
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
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from yolops._version import __version__
from yolops.errors import ConfigError, ModelError
from yolops.model.boxes import xyxy_to_cxcywh
from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint
from yolops.model.yolo import YOLO, decode

log = logging.getLogger(__name__)

INPUT_NAME = "images"


# -- graphs ------------------------------------------------------------------------------


class RawGraph(nn.Module):
    """(B, 3, S, S) float32 RGB in [0, 1] -> ``predictions`` (B, 4 + C, A):
    cx, cy, w, h in input pixels, then sigmoid class scores."""

    def __init__(self, model: YOLO):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        boxes, scores = decode(self.model(images))  # (B, A, 4) xyxy, (B, A, C)
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
        boxes, scores = decode(self.model(images))  # (B, A, 4), (B, A, C)
        b, a, num_classes = scores.shape
        best, label = scores.max(-1)  # (B, A)
        is_best = (
            torch.arange(num_classes, device=images.device)[None, :, None] == label[:, None, :]
        )
        class_scores = scores.transpose(1, 2) * is_best  # (B, C, A): zero except the best class
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
    import onnxscript.optimizer  # optional step, slow to import: only when asked for

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


def cached_onnx(checkpoint: Path) -> Path:
    """``<stem>.onnx`` next to ``checkpoint`` (raw graph, dynamic batch), exported when
    missing or older than the checkpoint."""
    onnx_path = checkpoint.with_suffix(".onnx")
    if onnx_path.is_file() and onnx_path.stat().st_mtime >= checkpoint.stat().st_mtime:
        return onnx_path
    if not os.access(checkpoint.parent, os.W_OK):
        raise ModelError(
            f"{checkpoint.parent}: cannot write the ONNX export here; "
            "use backend='torch' or export it elsewhere with export_onnx"
        )
    log.info("exporting %s to %s for ONNX Runtime", checkpoint, onnx_path)
    return export_onnx(checkpoint, onnx_path, dynamic_batch=True)
