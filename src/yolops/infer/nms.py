"""Post-processing of a raw ONNX graph's output in NumPy and OpenCV, without torch.

The same rule as :func:`yolops.model.postprocess.postprocess` (the torch path, which
the torch backend and training keep): each anchor's best class, candidates scoring at
least ``conf`` (in ``classes`` when given), the ``max_candidates`` best by a stable
sort, greedy class-aware NMS at IoU ``iou`` (class-agnostic when ``agnostic``), at
most ``max_det`` kept, by descending score, equal scores in anchor order.

NMS is OpenCV's ``cv2.dnn.NMSBoxesBatched`` (C++: the IoU of each candidate against
the boxes kept so far, in double precision). Classes are kept apart by shifting each
class's boxes by ``class * span``, ``span`` the extent of all boxes plus one, so that
boxes of different classes never overlap. OpenCV's own shift assumes coordinates of
0 or more and a box reaching past the top-left corner (they do, unclipped) could then
overlap another class's. bench/bench_nms.py compares the two paths: the same boxes
kept on real outputs, several times faster, and no torch import (start-up and memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# One entry per image: (boxes (K, 4) float32 xyxy, scores (K,) float32, classes (K,) int64).
Found = tuple[np.ndarray, np.ndarray, np.ndarray]


def postprocess_raw(
    prediction: np.ndarray,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    max_candidates: int = 30000,
) -> Found:
    """Detections of one image from a raw graph's output ``prediction`` (4 + C, A):
    rows 0..3 the box centre x, centre y, width and height in input pixels, rows 4..
    the class scores."""
    prediction = np.asarray(prediction, np.float32)  # as torch did (a float16 graph too)
    scores = prediction[4:]  # (C, A)
    if classes is not None:
        allowed = np.zeros(len(scores), bool)
        allowed[np.asarray(list(classes), np.int64)] = True
        scores = np.where(allowed[:, None], scores, np.float32(0))  # left out: never passes
    if scores.shape[1] == 0 or scores.shape[0] == 0:
        return _empty()
    cls = scores.argmax(0)  # the first best class, as torch's max
    score = np.take_along_axis(scores, cls[None], 0)[0]
    ok = score >= np.float32(conf)  # compared in float32, as torch does
    if classes is not None:
        ok &= score > 0  # conf may be 0: classes left out must still stay out
    anchor = np.flatnonzero(ok)
    score, cls = score[anchor], cls[anchor]
    if len(score) > max_candidates:
        top = np.argsort(-score, kind="stable")[:max_candidates]
        anchor, score, cls = anchor[top], score[top], cls[top]
    if len(anchor) == 0:
        return _empty()
    cx, cy, w, h = prediction[:4, anchor]
    boxes = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)  # as torch does
    keep = nms(boxes, score, None if agnostic else cls, iou, max_det)
    return boxes[keep], score[keep], cls[keep].astype(np.int64)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray | None,
    iou_threshold: float,
    max_det: int | None = None,
) -> np.ndarray:
    """Greedy NMS of (N, 4) xyxy ``boxes`` within each class (all together when
    ``classes`` is None): int64 indices by descending score, ties in input order,
    at most ``max_det``. A box is dropped when its IoU with a kept one is above
    ``iou_threshold``, as :func:`yolops.model.boxes.batched_nms` does."""
    if len(boxes) == 0 or (max_det is not None and max_det <= 0):
        return np.zeros(0, np.int64)
    xyxy = boxes.astype(np.float64)
    if classes is not None:
        span = float(xyxy.max() - xyxy.min()) + 1.0
        xyxy = xyxy + (np.asarray(classes, np.float64) * span)[:, None]
    rects = np.concatenate((xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]), 1)  # x, y, w, h
    # score_threshold -1: the candidates are chosen already (OpenCV keeps score > it)
    keep = cv2.dnn.NMSBoxesBatched(
        rects, scores.astype(np.float32), np.zeros(len(rects), np.int32), -1.0, float(iou_threshold)
    )
    keep = np.asarray(keep, np.int64).reshape(-1)
    return keep if max_det is None else keep[: int(max_det)]


def _empty() -> Found:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
