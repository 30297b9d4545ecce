"""Boxes and labels drawn on images with OpenCV (Hershey fonts: no font files).

Images are RGB uint8 (H, W, 3); boxes float (N, 4) xyxy in pixels of that image.
Every function returns a new array and leaves its input untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from yolops.detections import Detections

# A fixed RGB palette, so a class keeps its colour across images, runs and plots.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 56, 56),
    (56, 140, 255),
    (255, 178, 29),
    (168, 64, 220),
    (0, 194, 204),
    (255, 112, 31),
    (72, 58, 230),
    (207, 210, 49),
    (255, 55, 199),
    (20, 140, 90),
    (146, 204, 23),
    (0, 90, 180),
    (255, 149, 200),
    (132, 56, 255),
    (61, 219, 134),
    (180, 110, 60),
    (24, 200, 255),
    (200, 30, 90),
    (120, 120, 120),
    (90, 40, 0),
)
GT_COLOR: tuple[int, int, int] = (0, 220, 0)  # ground truth: green
FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(class_id: int) -> tuple[int, int, int]:
    """The RGB colour of a class id (the palette repeats past its length)."""
    return PALETTE[int(class_id) % len(PALETTE)]


def class_name(class_id: int, class_names: Sequence[str]) -> str:
    return class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)


def draw_detections(
    image: np.ndarray,
    detections: Detections,
    class_names: Sequence[str] | None = None,
    thickness: int = 2,
    font_scale: float = 0.5,
) -> np.ndarray:
    """A copy of ``image`` with each detection boxed in its class colour and labelled
    ``"name 0.87"``; ``class_names`` defaults to ``detections.class_names``. The
    highest scores are drawn last, on top."""
    names = detections.class_names if class_names is None else class_names
    out = _checked_copy(image)
    for i in np.argsort(detections.scores, kind="stable"):
        c = int(detections.classes[i])
        label = f"{class_name(c, names)} {detections.scores[i]:.2f}"
        _draw_box(out, detections.boxes[i], class_color(c), label, thickness, font_scale)
    return out


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray,
    classes: np.ndarray,
    class_names: Sequence[str] = (),
    color: tuple[int, int, int] | None = None,
    thickness: int = 2,
    font_scale: float = 0.5,
) -> np.ndarray:
    """A copy of ``image`` with labelled boxes (ground truth: no scores), each in
    ``color`` when given, else in its class colour."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    classes = np.asarray(classes, np.int64).reshape(-1)
    if len(boxes) != len(classes):
        raise ValueError(f"draw_boxes: {len(boxes)} boxes but {len(classes)} class ids")
    out = _checked_copy(image)
    for box, c in zip(boxes, classes.tolist()):
        _draw_box(
            out, box, color or class_color(c), class_name(c, class_names), thickness, font_scale
        )
    return out


def _checked_copy(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image).copy()


def _draw_box(
    image: np.ndarray,
    box: np.ndarray,
    color: tuple[int, int, int],
    label: str,
    thickness: int,
    font_scale: float,
) -> None:
    """Draw one box and its label in place; a box with non-finite coordinates cannot
    be drawn and is left out."""
    if not np.all(np.isfinite(box)):
        return
    # Off-image parts are invisible anyway; clipping just outside keeps OpenCV's ints small.
    height, width = image.shape[:2]
    margin = thickness + 2
    xs = np.clip(np.asarray(box, np.float64)[[0, 2]], -margin, width + margin)
    ys = np.clip(np.asarray(box, np.float64)[[1, 3]], -margin, height + margin)
    x1, x2, y1, y2 = (int(round(v)) for v in (*xs, *ys))
    cv2.rectangle(
        image, (x1, y1), (x2 - 1, y2 - 1), color, thickness, cv2.LINE_8
    )  # crisp: axis-aligned
    if label:
        _draw_label(image, label, x1, y1, color, font_scale, max(1, thickness // 2))


def _draw_label(
    image: np.ndarray,
    text: str,
    x: int,
    y: int,
    color: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    """Text on a filled rectangle just above (x, y), or just below when there is no
    room above; kept inside the image horizontally."""
    (w, h), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    pad = 2
    height, width = image.shape[:2]
    x = min(max(x, 0), max(width - w - 2 * pad, 0))
    top = y - h - baseline - 2 * pad
    if top < 0:
        top = max(y, 0)
    bottom = top + h + baseline + 2 * pad
    cv2.rectangle(image, (x, top), (x + w + 2 * pad, bottom), color, cv2.FILLED)
    cv2.putText(
        image,
        text,
        (x + pad, bottom - baseline - pad),
        FONT,
        font_scale,
        _text_color(color),
        thickness,
        cv2.LINE_AA,
    )


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (Rec. 601 luma)."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)
