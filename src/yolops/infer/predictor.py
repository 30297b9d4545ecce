"""Predictors: one interface, a PyTorch backend and an ONNX Runtime backend.

Both letterbox each image to a square ``imgsz``, run the network on a batch, apply
the one NMS rule and map boxes back to the original image pixels: the torch backend
with :func:`yolops.model.postprocess.postprocess`, the ONNX backend with its NumPy and
OpenCV twin :func:`yolops.infer.nms.postprocess_raw` (the same boxes kept, faster), so
that predicting with an ONNX graph never imports torch (start-up and memory; see
bench/bench_nms.py); the torch modules are imported where the torch backend needs them.
:func:`load_predictor` picks the backend for a file; :func:`predict_source` streams any
source (see :mod:`yolops.infer.sources`).

ONNX graphs :class:`OnnxPredictor` reads (the names are the graph's output names):

- ``raw`` (ours, :func:`yolops.infer.export.export_onnx`): input ``images``
  (B, 3, S, S) float32 RGB in [0, 1]; output ``predictions`` (B, 4 + C, A): rows
  0..3 the box centre x, centre y, width, height in input pixels, rows 4.. the
  sigmoid class scores. This is also the layout of Ultralytics YOLOv8/YOLO11
  detection exports (whatever the output is named), so those load too; their
  class names come from the ``names`` metadata (``"{0: 'person', ...}"``).
- ``end2end`` (ours, with ``end2end=True``): the same input and NMS inside the
  graph. Outputs, K = the ``max_det`` baked in at export, detections sorted by
  score and padded to K per image:
  ``boxes`` (B, K, 4) float32 xyxy in input pixels, ``scores`` (B, K) float32,
  ``classes`` (B, K) int64, ``num_detections`` (B,) int64 — entries at and past
  ``num_detections[b]`` are padding (box 0, score 0, class -1). The graph's
  ``conf``, ``iou`` and ``max_det`` (in its metadata) are floors: a call may ask
  for a higher ``conf``, fewer boxes or some ``classes`` only, never for more.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import onnxruntime as ort

from yolops.data.dataset import Dataset
from yolops.data.images import read_image
from yolops.data.letterbox import LetterboxInfo, boxes_from_letterbox, letterbox, to_array
from yolops.detections import Detections
from yolops.device import cpu_count
from yolops.errors import ConfigError, ModelError, YolopsError
from yolops.infer.nms import postprocess_raw
from yolops.infer.sources import OnError, Source, iter_sized_images

if TYPE_CHECKING:
    from yolops.model.yolo import YOLO

log = logging.getLogger(__name__)

END2END_OUTPUTS = ("boxes", "scores", "classes", "num_detections")

# One entry per image: (boxes (N, 4) xyxy input pixels, scores (N,), classes (N,)), as
# NumPy arrays (or torch tensors, which the torch backend hands over as they are).
PerImage = list[tuple[Any, Any, Any]]


class Predictor(Protocol):
    class_names: tuple[str, ...]
    imgsz: int

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        agnostic: bool = False,
        original_sizes: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[Detections]:
        """Detections for RGB uint8 images (H, W, 3) of any sizes, boxes in each
        image's original pixels; one batch. ``original_sizes``: per image, None or
        the (width, height) the image was reduced from (see
        :func:`yolops.data.images.decode_for_model`); its boxes are then given in,
        and clipped to, that size."""
        ...


# -- shared pre- and post-processing ---------------------------------------------


def prepare_batch(
    images: Sequence[np.ndarray], imgsz: int
) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """RGB uint8 images -> (B, 3, imgsz, imgsz) float32 array in [0, 1] and how each was
    letterboxed."""
    canvases, infos = [], []
    for i, image in enumerate(images):
        if (
            not isinstance(image, np.ndarray)
            or image.ndim != 3
            or image.shape[2] != 3
            or image.dtype != np.uint8
        ):
            what = (
                f"{image.dtype} {tuple(image.shape)}"
                if isinstance(image, np.ndarray)
                else type(image).__name__
            )
            raise YolopsError(
                f"image {i} of the batch: expected an RGB uint8 array (H, W, 3), got {what}"
            )
        canvas, info = letterbox(image, imgsz)
        canvases.append(canvas)
        infos.append(info)
    return to_array(canvases), infos


def to_detections(
    per_image: PerImage,
    infos: Sequence[LetterboxInfo],
    class_names: tuple[str, ...],
    original_sizes: Sequence[tuple[int, int] | None] | None = None,
) -> list[Detections]:
    """Input-pixel results -> :class:`Detections` in original image pixels.

    Where ``original_sizes`` gives an image's (width, height) before it was reduced,
    boxes are scaled from the reduced image to that size and clipped to it."""
    sizes = _check_sizes(original_sizes, len(infos))
    out = []
    for (boxes, scores, classes), info, size in zip(per_image, infos, sizes):
        boxes = boxes_from_letterbox(_numpy(boxes, np.float32), info)
        if size is not None:
            boxes = to_original(boxes, info.orig_size, size)
        out.append(
            Detections(boxes, _numpy(scores, np.float32), _numpy(classes, np.int64), class_names)
        )
    return out


def _numpy(values: Any, dtype: type) -> np.ndarray:
    """An array or a torch tensor (on any device) as a NumPy array of ``dtype``."""
    if not isinstance(values, np.ndarray):
        values = values.detach().cpu().numpy()
    return values.astype(dtype, copy=False)


def to_original(
    boxes: np.ndarray, reduced_hw: tuple[int, int], size: tuple[int, int]
) -> np.ndarray:
    """(N, 4) xyxy in pixels of a reduced (h, w) image -> in its original (width, height),
    clipped to the original image."""
    (rh, rw), (width, height) = reduced_hw, size
    scale = np.array([width / rw, height / rh, width / rw, height / rh], np.float32)
    limit = np.array([width, height, width, height], np.float32)
    return np.clip(boxes * scale, 0, limit).astype(np.float32, copy=False)


def _check_sizes(
    sizes: Sequence[tuple[int, int] | None] | None, n: int
) -> list[tuple[int, int] | None]:
    if sizes is None:
        return [None] * n
    sizes = list(sizes)
    if len(sizes) != n:
        raise YolopsError(f"original_sizes has {len(sizes)} entries for a batch of {n} images")
    for i, size in enumerate(sizes):
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise YolopsError(
                f"original_sizes[{i}] is {size!r}; expected (width, height) > 0 or None"
            )
    return sizes


# -- PyTorch -----------------------------------------------------------------------


class TorchPredictor:
    """Runs a :class:`YOLO` with PyTorch (CUDA when there, else the CPU)."""

    def __init__(self, model: YOLO, class_names: Sequence[str], imgsz: int, device: str = "auto"):
        from yolops.device import select_device

        if len(class_names) != model.num_classes:
            raise ModelError(
                f"model has {model.num_classes} classes but {len(class_names)} class names "
                "were given"
            )
        self.device = select_device(device)
        self.model = model.eval().to(self.device)
        self.class_names = tuple(class_names)
        self.imgsz = int(imgsz)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> TorchPredictor:
        from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint

        state = load_checkpoint(path)
        model = model_from_checkpoint(state, str(path)).fuse()
        return cls(model, state["class_names"], state["imgsz"], device)

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        agnostic: bool = False,
        original_sizes: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[Detections]:
        import torch

        from yolops.model.postprocess import postprocess
        from yolops.model.yolo import decode

        if len(images) == 0:
            return []
        _check_sizes(original_sizes, len(images))
        x, infos = prepare_batch(images, self.imgsz)
        with torch.inference_mode():
            boxes, scores = decode(
                self.model(torch.from_numpy(x).to(self.device))
            )  # (B, A, 4), (B, A, C)
            per_image = postprocess(
                boxes,
                scores,
                conf=conf,
                iou=iou,
                max_det=max_det,
                classes=classes,
                agnostic=agnostic,
            )
        return to_detections(per_image, infos, self.class_names, original_sizes)


# -- ONNX Runtime --------------------------------------------------------------------


def parse_class_names(text: str, source: str) -> tuple[str, ...]:
    """Class names from ONNX metadata: a JSON list (ours) or a Python dict literal
    ``"{0: 'person', 1: 'bicycle'}"`` (Ultralytics)."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ModelError(
                f"{source}: metadata 'names' is neither JSON nor a Python literal: {text[:80]!r}"
            ) from None
    if isinstance(value, dict):
        try:
            ids = sorted(int(k) for k in value)
        except (TypeError, ValueError):
            raise ModelError(f"{source}: metadata 'names' has non-integer class ids") from None
        if ids != list(range(len(ids))):
            raise ModelError(f"{source}: metadata 'names' class ids are not 0..{len(ids) - 1}")
        by_id = {int(k): v for k, v in value.items()}
        return tuple(str(by_id[i]) for i in ids)
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    raise ModelError(
        f"{source}: metadata 'names' is a {type(value).__name__}, expected a list or a dict"
    )


def _imgsz_from_metadata(text: str, source: str) -> int:
    try:
        value = json.loads(text)
    except ValueError:
        raise ModelError(
            f"{source}: metadata 'imgsz' is not a number or a list: {text!r}"
        ) from None
    sizes = value if isinstance(value, list) else [value]
    if len(set(sizes)) != 1:
        raise ModelError(
            f"{source}: input size {value} is not square; yolops predicts on square inputs"
        )
    return int(sizes[0])


def default_providers(device: str = "auto") -> list[str]:
    """ONNX Runtime execution providers: CUDA when available (and not ``device='cpu'``),
    then the CPU."""
    available = ort.get_available_providers()
    device = device.lower()
    if device.startswith("cuda") and "CUDAExecutionProvider" not in available:
        raise ConfigError(f"device {device!r} asked for, but this onnxruntime has no CUDA provider")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxPredictor:
    """Runs an ONNX detection graph with ONNX Runtime (see the module docstring for
    the graphs it reads). ``threads`` 0 uses every usable core."""

    def __init__(
        self,
        path: str | Path,
        class_names: Sequence[str] | None = None,
        imgsz: int | None = None,
        threads: int = 0,
        providers: Sequence[str] | None = None,
    ):
        self.path = Path(path)
        self.session = _open_session(self.path, threads, providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        inp = self.session.get_inputs()[0]
        self._input_name = inp.name
        self._input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        # A static batch dimension caps how many images one run may take.
        self._max_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None
        self.imgsz = self._resolve_imgsz(inp.shape, imgsz)
        outputs = [o.name for o in self.session.get_outputs()]
        self.kind = self._resolve_kind(outputs)
        self.class_names = self._resolve_names(class_names)
        self._end2end = {k: float(meta[k]) for k in ("conf", "iou", "max_det") if k in meta}
        self._warned_floor = False

    def _resolve_imgsz(self, shape: list, imgsz: int | None) -> int:
        src = str(self.path)
        if len(shape) != 4:
            raise ModelError(f"{src}: input has shape {shape}; expected (batch, 3, height, width)")
        h, w = shape[2], shape[3]
        if isinstance(h, int) and isinstance(w, int):
            if h != w:
                raise ModelError(f"{src}: input is {h}x{w}; yolops predicts on square inputs")
            if imgsz is not None and imgsz != h:
                raise ModelError(
                    f"{src}: the graph takes {h}x{h} inputs, imgsz={imgsz} was asked for"
                )
            return h
        if imgsz is not None:
            return int(imgsz)
        if "imgsz" in self.metadata:
            return _imgsz_from_metadata(self.metadata["imgsz"], src)
        raise ModelError(f"{src}: the input size is dynamic and not in the metadata; pass imgsz")

    def _resolve_kind(self, outputs: list[str]) -> str:
        src = str(self.path)
        if set(END2END_OUTPUTS) <= set(outputs):
            return "end2end"
        if self.metadata.get("kind") == "end2end":
            raise ModelError(
                f"{src}: an end2end graph must have outputs {', '.join(END2END_OUTPUTS)}; "
                f"has {outputs}"
            )
        shape = self.session.get_outputs()[0].shape
        if len(outputs) != 1 or len(shape) != 3:
            raise ModelError(
                f"{src}: unsupported detection graph (outputs {outputs}, first of shape {shape}); "
                "expected one output (batch, 4 + classes, anchors) or the end2end outputs "
                f"{', '.join(END2END_OUTPUTS)}"
            )
        return "raw"

    def _resolve_names(self, class_names: Sequence[str] | None) -> tuple[str, ...]:
        src = str(self.path)
        if class_names is not None:
            names = tuple(class_names)
        elif "names" in self.metadata:
            names = parse_class_names(self.metadata["names"], src)
        else:
            names = ()
        if self.kind == "raw":
            rows = self.session.get_outputs()[0].shape[1]
            if isinstance(rows, int):
                if not names:
                    names = tuple(str(i) for i in range(rows - 4))  # unnamed graph: ids as names
                elif rows != 4 + len(names):
                    raise ModelError(
                        f"{src}: output has {rows} rows per anchor, "
                        f"expected 4 + {len(names)} classes"
                    )
        if not names:
            raise ModelError(f"{src}: no class names in the metadata and none given")
        return names

    def predict(
        self,
        images: Sequence[np.ndarray],
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        agnostic: bool = False,
        original_sizes: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[Detections]:
        if len(images) == 0:
            return []
        _check_sizes(original_sizes, len(images))
        return self._predict(images, conf, iou, max_det, classes, agnostic, original_sizes)

    def _predict(
        self,
        images: Sequence[np.ndarray],
        conf: float,
        iou: float,
        max_det: int,
        classes: Sequence[int] | None,
        agnostic: bool,
        original_sizes: Sequence[tuple[int, int] | None] | None,
    ) -> list[Detections]:
        x, infos = prepare_batch(images, self.imgsz)
        x = x.astype(self._input_dtype, copy=False)
        step = self._max_batch or len(x)
        per_image: PerImage = []
        for start in range(0, len(x), step):
            outputs = self.session.run(None, {self._input_name: x[start : start + step]})
            if self.kind == "raw":
                per_image += self._postprocess_raw(
                    outputs[0], conf, iou, max_det, classes, agnostic
                )
            else:
                per_image += self._postprocess_end2end(outputs, conf, iou, max_det, classes)
        return to_detections(per_image, infos, self.class_names, original_sizes)

    def _postprocess_raw(
        self,
        predictions: np.ndarray,
        conf: float,
        iou: float,
        max_det: int,
        classes: Sequence[int] | None,
        agnostic: bool,
    ) -> PerImage:
        if predictions.ndim != 3 or predictions.shape[1] != 4 + len(self.class_names):
            raise ModelError(
                f"{self.path}: output has shape {predictions.shape}, "
                f"expected (batch, {4 + len(self.class_names)}, anchors)"
            )
        return [
            postprocess_raw(pred, conf, iou, max_det, classes, agnostic)  # pred (4 + C, A)
            for pred in predictions
        ]

    def _postprocess_end2end(
        self,
        outputs: list[np.ndarray],
        conf: float,
        iou: float,
        max_det: int,
        classes: Sequence[int] | None,
    ) -> PerImage:
        by_name = dict(zip((o.name for o in self.session.get_outputs()), outputs))
        self._warn_below_floor(conf, iou, max_det)
        out: PerImage = []
        for b, n in enumerate(by_name["num_detections"].reshape(-1).tolist()):
            boxes = by_name["boxes"][b, :n].astype(np.float32)
            scores = by_name["scores"][b, :n].astype(np.float32)
            labels = by_name["classes"][b, :n].astype(np.int64)
            keep = scores >= conf
            if classes is not None:
                keep &= np.isin(labels, np.asarray(list(classes), np.int64))
            keep = np.flatnonzero(keep)[:max_det]  # already sorted by score
            out.append((boxes[keep], scores[keep], labels[keep]))
        return out

    def _warn_below_floor(self, conf: float, iou: float, max_det: int) -> None:
        baked = self._end2end
        looser = (
            conf < baked.get("conf", 0.0)
            or iou != baked.get("iou", iou)
            or max_det > baked.get("max_det", max_det)
        )
        if looser and not self._warned_floor:
            self._warned_floor = True
            log.warning(
                "%s: NMS is inside this graph (conf %s, iou %s, max_det %s); "
                "asked for conf %s, iou %s, max_det %s: "
                "only a stricter conf, fewer boxes or a class filter can be applied",
                self.path,
                baked.get("conf"),
                baked.get("iou"),
                baked.get("max_det"),
                conf,
                iou,
                max_det,
            )


def _open_session(path: Path, threads: int, providers: Sequence[str] | None):
    if not path.is_file():
        raise ModelError(f"{path}: ONNX model file does not exist")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or cpu_count()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: the CPU fallback notes are noise here
    try:
        return ort.InferenceSession(
            str(path), opts, providers=list(providers or default_providers())
        )
    except Exception as e:  # ORT raises its own types (InvalidProtobuf, Fail, ...)
        raise ModelError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {e})") from None


# -- choosing a backend, streaming a source -----------------------------------------------


def load_predictor(
    path: str | Path, backend: str = "auto", device: str = "auto", threads: int = 0
) -> Predictor:
    """A predictor for a model file: the one loader that prediction, evaluation,
    serving and the MLflow pyfunc use.

    ``.onnx``: :class:`OnnxPredictor`. ``.pt``: with ``backend='torch'``, or ``auto`` on
    CUDA, a :class:`TorchPredictor`; with ``onnx``, or ``auto`` on the CPU (ONNX Runtime
    is faster there), an :class:`OnnxPredictor` on ``<stem>.onnx`` next to the checkpoint,
    exported once and again whenever the checkpoint is newer. ``threads``: ONNX
    Runtime's intra-op threads (0: every usable core).
    """
    path = Path(path)
    if backend not in ("auto", "torch", "onnx"):
        raise ConfigError(f"unknown backend {backend!r}; choose auto, torch or onnx")
    suffix = path.suffix.lower()
    if suffix not in (".onnx", ".pt"):
        raise ModelError(f"{path}: unknown model file type {suffix!r}; give an .onnx or .pt model")
    if not path.is_file():
        raise ModelError(f"{path}: model file does not exist")
    if suffix == ".onnx":
        if backend == "torch":
            raise ModelError(f"{path}: an ONNX graph cannot run on the torch backend")
        return OnnxPredictor(path, threads=threads, providers=default_providers(device))
    from yolops.device import select_device  # a checkpoint: torch is needed anyway
    from yolops.infer.export import cached_onnx

    if backend == "auto":
        backend = "torch" if select_device(device).type == "cuda" else "onnx"
    if backend == "torch":
        return TorchPredictor.from_checkpoint(path, device)
    return OnnxPredictor(cached_onnx(path), threads=threads, providers=default_providers(device))


def predict_records(
    predictor: Predictor,
    dataset: Dataset,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    batch: int = 8,
) -> dict[str, Detections]:
    """Detections for every record of ``dataset`` (decoded in full), keyed by image id.
    The low default ``conf`` is what mAP needs (the whole PR curve)."""
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    out: dict[str, Detections] = {}
    records = list(dataset)
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        images = [read_image(r.path) for r in chunk]
        found = predictor.predict(images, conf=conf, iou=iou, max_det=max_det)
        out.update({r.id: d for r, d in zip(chunk, found)})
    return out


def predict_sized(
    predictor: Predictor,
    source: Source,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    batch: int = 8,
    vid_stride: int = 1,
    reduced_decode: bool = False,
    on_error: OnError | None = None,
) -> Iterator[tuple[str, np.ndarray, tuple[int, int], Detections]]:
    """``(name, RGB image, original (width, height), Detections)`` for every image or
    video frame of ``source``, predicted ``batch`` images at a time, in source order.

    ``reduced_decode``: JPEG files are decoded at 1/2, 1/4 or 1/8 scale where the
    model's input size allows (faster, see :func:`yolops.data.images.decode_for_model`);
    the image yielded is then the reduced one, the boxes stay in original pixels.
    ``on_error(name, error)``: an unreadable image or video is passed to it and the rest
    go on (see :func:`yolops.infer.sources.iter_sized_images`); without it, it raises."""
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}")
    imgsz = int(predictor.imgsz) if reduced_decode else None
    chunk: list[tuple[str, np.ndarray, tuple[int, int]]] = []
    for item in iter_sized_images(source, vid_stride=vid_stride, imgsz=imgsz, on_error=on_error):
        chunk.append(item)
        if len(chunk) == batch:
            yield from _predict_chunk(predictor, chunk, conf, iou, max_det, classes, agnostic)
            chunk = []
    if chunk:
        yield from _predict_chunk(predictor, chunk, conf, iou, max_det, classes, agnostic)


def predict_source(
    predictor: Predictor, source: Source, **options: Any
) -> Iterator[tuple[str, np.ndarray, Detections]]:
    """``(name, RGB image, Detections)``: :func:`predict_sized` (same options) without the sizes."""
    for name, image, _, dets in predict_sized(predictor, source, **options):
        yield name, image, dets


def _predict_chunk(
    predictor: Predictor,
    chunk: list[tuple[str, np.ndarray, tuple[int, int]]],
    conf: float,
    iou: float,
    max_det: int,
    classes: Sequence[int] | None,
    agnostic: bool,
) -> Iterator[tuple[str, np.ndarray, tuple[int, int], Detections]]:
    images = [image for _, image, _ in chunk]
    # Sizes only where an image was reduced: full-size images keep the unclipped boxes
    # they always had.
    sizes = [size if size != (image.shape[1], image.shape[0]) else None for _, image, size in chunk]
    detections = predictor.predict(
        images,
        conf=conf,
        iou=iou,
        max_det=max_det,
        classes=classes,
        agnostic=agnostic,
        **({"original_sizes": sizes} if any(sizes) else {}),
    )
    for (name, image, size), dets in zip(chunk, detections):
        yield name, image, size, dets
