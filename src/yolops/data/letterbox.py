"""Letterbox: resize keeping the aspect ratio, then pad to a fixed size.

Shared by training (validation mode, the image cache) and inference, so that a
model sees the same pixels in both. Coordinates follow one rule:

    letterboxed = original * ratio + pad        (xyxy, pixel corners)

which holds exactly for the pixels too, because OpenCV is given the scale factor
itself rather than a rounded output size.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np

if TYPE_CHECKING:  # inference on NumPy arrays (the ONNX path) never imports torch
    import torch

PAD_VALUE = 114  # grey, the usual YOLO padding

Boxes = TypeVar("Boxes", np.ndarray, "torch.Tensor")


@dataclass(frozen=True)
class LetterboxInfo:
    """How one image was letterboxed.

    ``ratio``: scale from original to letterboxed pixels (same in x and y);
    ``pad``: (pad_x, pad_y), where the resized image starts in output pixels;
    ``orig_size``: (h, w) of the original image.
    """

    ratio: float
    pad: tuple[float, float]
    orig_size: tuple[int, int]


def scale_image(image: np.ndarray, ratio: float) -> np.ndarray:
    """Scale an (H, W, C) image by ``ratio`` in both axes.

    The output is (round(H * ratio), round(W * ratio), C) and maps pixel corners as
    x' = ratio * x exactly. INTER_AREA below half size (bilinear would alias),
    INTER_LINEAR otherwise.
    """
    if ratio == 1.0:
        return image
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if ratio < 0.5 else cv2.INTER_LINEAR
    if round(w * ratio) < 1 or round(h * ratio) < 1:
        # A sliver would round to zero pixels; keep one (only the size is then approximate).
        size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
        return cv2.resize(image, size, interpolation=interpolation)
    return cv2.resize(image, (0, 0), fx=ratio, fy=ratio, interpolation=interpolation)


def letterbox(
    image: np.ndarray,
    size: int | tuple[int, int],
    color: int | tuple[int, int, int] = PAD_VALUE,
    scaleup: bool = True,
) -> tuple[np.ndarray, LetterboxInfo]:
    """Fit an RGB uint8 image (H, W, 3) into ``size`` (an int for a square, or (h, w)).

    The image is scaled by min(h / H, w / W) (never above 1 when ``scaleup`` is false)
    and centred on a canvas filled with ``color``. Returns the (h, w, 3) uint8 canvas
    and the :class:`LetterboxInfo` that maps boxes back.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"letterbox expects an (H, W, 3) image, got shape {image.shape}")
    out_h, out_w = (size, size) if isinstance(size, int) else size
    h, w = image.shape[:2]
    ratio = min(out_h / h, out_w / w)
    if not scaleup:
        ratio = min(ratio, 1.0)
    resized = scale_image(image, ratio)
    new_h, new_w = resized.shape[:2]
    left, top = (out_w - new_w) // 2, (out_h - new_h) // 2
    canvas = np.empty((out_h, out_w, 3), np.uint8)
    canvas[...] = color
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, LetterboxInfo(float(ratio), (float(left), float(top)), (h, w))


def _is_tensor(boxes: object) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only where torch is imported
    return torch is not None and isinstance(boxes, torch.Tensor)


def _pad4(boxes: Boxes, info: LetterboxInfo) -> Boxes:
    px, py = info.pad
    if _is_tensor(boxes):
        return boxes.new_tensor([px, py, px, py])
    return np.array([px, py, px, py], dtype=boxes.dtype)


def _as_float(boxes: Boxes) -> Boxes:
    if _is_tensor(boxes):
        return boxes if boxes.is_floating_point() else boxes.float()
    boxes = np.asarray(boxes)
    return boxes if np.issubdtype(boxes.dtype, np.floating) else boxes.astype(np.float32)


def boxes_to_letterbox(boxes: Boxes, info: LetterboxInfo) -> Boxes:
    """(N, 4) xyxy in original pixels -> (N, 4) xyxy in letterboxed pixels.

    NumPy arrays or torch tensors; floating dtypes are kept, integers become float32.
    """
    boxes = _as_float(boxes)
    return boxes * info.ratio + _pad4(boxes, info)


def boxes_from_letterbox(boxes: Boxes, info: LetterboxInfo) -> Boxes:
    """(N, 4) xyxy in letterboxed pixels -> (N, 4) xyxy in original pixels (not clipped)."""
    boxes = _as_float(boxes)
    return (boxes - _pad4(boxes, info)) / info.ratio


def to_array(images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """RGB uint8 images, a list of (H, W, 3) or one (B, H, W, 3) array, of equal size
    -> float32 array (B, 3, H, W) in [0, 1].

    NumPy does the layout change and scaling, not torch: on a small CPU, torch's
    worker threads spin after a parallel op and would steal the cores ONNX Runtime
    needs next (3x slower predict calls on 2 cores). It is also 3-10x faster than
    OpenCV's ``blobFromImages`` for batches (0.33 vs 1.0 ms for 8 images at 320),
    with bit-identical output.
    """
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(f"to_array expects (B, H, W, 3) images, got shape {images.shape}")
        images = list(images)
    shapes = {im.shape for im in images}
    if not images or len(shapes) != 1 or len(next(iter(shapes))) != 3 or next(iter(shapes))[2] != 3:
        raise ValueError(
            f"to_array expects (H, W, 3) images of one size, got shapes {sorted(shapes)}"
        )
    x = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32, order="C")
    x *= np.float32(1.0 / 255.0)
    return x


def to_tensor(images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """:func:`to_array` as a torch tensor (B, 3, H, W) float32 in [0, 1]."""
    import torch

    return torch.from_numpy(to_array(images))
