"""Training augmentations: mosaic, random affine, mixup, HSV jitter and flips.

Pure functions on an RGB uint8 image (H, W, 3), its boxes float32 (N, 4) xyxy in
that image's pixels and class ids int64 (N,). Randomness comes only from the
``np.random.Generator`` passed in, so a sample is a function of its generator's seed.

Geometry uses pixel corners (pixel i spans [i, i + 1]), the convention of the boxes;
warps are adjusted to OpenCV's pixel centres so that pixels and boxes move together.
Boxes cut by the canvas are clipped, and dropped when too small or when too little
of them is left; that is augmentation cropping, not data repair.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import cv2
import numpy as np

from yolops.data.letterbox import PAD_VALUE
from yolops.errors import ConfigError

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]  # image (H, W, 3), boxes (N, 4), classes (N,)

_PROBABILITIES = ("mosaic", "mixup", "fliplr", "flipud")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths. Probabilities are in [0, 1]; ``degrees`` and ``shear``
    in degrees; ``translate`` a fraction of the output size; ``scale`` a gain range
    (1 - scale, 1 + scale); ``hsv_*`` gain ranges; ``min_box_size`` in pixels;
    ``min_area_ratio`` the share of a box's area that must survive a crop."""

    mosaic: float = 1.0
    mixup: float = 0.0
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    fliplr: float = 0.5
    flipud: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    min_box_size: float = 2.0
    min_area_ratio: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"augment.{f.name} must be a finite number >= 0, got {value}")
        for name in (*_PROBABILITIES, "min_area_ratio"):
            if getattr(self, name) > 1:
                raise ConfigError(f"augment.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.scale >= 1:
            raise ConfigError(f"augment.scale must be < 1 (gain 1 +- scale), got {self.scale}")
        if self.translate > 0.5:
            raise ConfigError(f"augment.translate must be <= 0.5, got {self.translate}")
        if self.shear >= 90:
            raise ConfigError(f"augment.shear must be < 90 degrees, got {self.shear}")


# -- boxes ----------------------------------------------------------------------------


def clip_and_filter(
    boxes: np.ndarray,
    classes: np.ndarray,
    bounds: tuple[float, float, float, float],
    min_box_size: float,
    min_area_ratio: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Clip (N, 4) xyxy boxes to the xyxy ``bounds``; keep those at least ``min_box_size``
    wide and high that keep at least ``min_area_ratio`` of their area."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    x0, y0, x1, y1 = bounds
    clipped = boxes.clip(
        np.array([x0, y0, x0, y0], boxes.dtype), np.array([x1, y1, x1, y1], boxes.dtype)
    )
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w > 0) & (h > 0) & (w >= min_box_size) & (h >= min_box_size)
    keep &= w * h >= min_area_ratio * area
    return clipped[keep], classes[keep]


def warp_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy -> (N, 4) xyxy boxes enclosing the 4 corners moved by a (3, 3) affine."""
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([x1, y1, x2, y1, x2, y2, x1, y2], axis=1).reshape(-1, 2)  # (4N, 2)
    moved = (corners @ matrix[:2, :2].T + matrix[:2, 2]).reshape(-1, 4, 2)
    out = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    return out.astype(np.float32, copy=False)


# -- geometry -------------------------------------------------------------------------


def affine_matrix(
    rng: np.random.Generator,
    config: AugmentConfig,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
) -> np.ndarray:
    """A random (3, 3) affine in pixel corners: the input's centre goes to the output's
    centre, then rotation and scale, shear, and a translation of up to ``translate``."""
    (in_h, in_w), (out_h, out_w) = in_size, out_size
    # Always draw the same six numbers, so a zero strength does not shift the stream.
    angle, gain, shear_x, shear_y = (
        rng.uniform(-config.degrees, config.degrees),
        rng.uniform(1 - config.scale, 1 + config.scale),
        rng.uniform(-config.shear, config.shear),
        rng.uniform(-config.shear, config.shear),
    )
    tx, ty = rng.uniform(0.5 - config.translate, 0.5 + config.translate, size=2)
    centre = np.array([[1, 0, -in_w / 2], [0, 1, -in_h / 2], [0, 0, 1]])
    rotate = np.eye(3)
    rotate[:2] = cv2.getRotationMatrix2D((0, 0), angle, gain)
    shear = np.array(
        [
            [1, math.tan(math.radians(shear_x)), 0],
            [math.tan(math.radians(shear_y)), 1, 0],
            [0, 0, 1],
        ]
    )
    translate = np.array([[1, 0, tx * out_w], [0, 1, ty * out_h], [0, 0, 1]])
    return translate @ shear @ rotate @ centre


def warp_image(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Warp an image by a (3, 3) affine given in pixel corners to (h, w) = ``out_size``."""
    # OpenCV maps pixel centres; conjugate by the half-pixel shift: M_c = T(-.5) M T(.5).
    half = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    to_centres = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    m = (to_centres @ matrix @ half)[:2]
    out_h, out_w = out_size
    return cv2.warpAffine(
        image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=(PAD_VALUE,) * 3
    )


def random_affine(
    image: np.ndarray,
    boxes: np.ndarray,
    classes: np.ndarray,
    rng: np.random.Generator,
    config: AugmentConfig,
    out_size: tuple[int, int] | None = None,
) -> Sample:
    """Rotate, scale, shear and translate an image onto an ``out_size`` (h, w) canvas
    (default: its own size). Boxes move by their corners, are clipped and filtered."""
    out_size = tuple(out_size or image.shape[:2])
    matrix = affine_matrix(rng, config, image.shape[:2], out_size)
    if out_size == image.shape[:2] and np.allclose(matrix, np.eye(3)):
        warped = image  # nothing to do: no pixels copied
    else:
        warped = warp_image(image, matrix, out_size)
    moved = warp_boxes(boxes, matrix)
    out_h, out_w = out_size
    moved, classes = clip_and_filter(
        moved, classes, (0, 0, out_w, out_h), config.min_box_size, config.min_area_ratio
    )
    return warped, moved, classes


# -- mosaic and mixup -----------------------------------------------------------------


def _paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    """Copy ``image`` with its top-left corner at (x, y), cut to the canvas; returns
    the xyxy canvas region it covers."""
    h, w = image.shape[:2]
    ch, cw = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]
    return x0, y0, x1, y1


def mosaic_canvas(
    samples: Sequence[Sample], rng: np.random.Generator, size: int, config: AugmentConfig
) -> Sample:
    """Four samples (long side ``size``) around a random centre of a 2s x 2s canvas.

    Image k meets the centre with its bottom-right, bottom-left, top-right and top-left
    corner for k = 0..3; parts past the canvas are cut, and each image's boxes are
    clipped and filtered to the part of it that shows.
    """
    if len(samples) != 4:
        raise ValueError(f"mosaic needs 4 samples, got {len(samples)}")
    s = size
    xc, yc = (int(v) for v in rng.uniform(s / 2, 3 * s / 2, size=2))
    canvas = np.full((2 * s, 2 * s, 3), PAD_VALUE, np.uint8)
    all_boxes, all_classes = [], []
    for k, (image, boxes, classes) in enumerate(samples):
        h, w = image.shape[:2]
        x = xc - w if k in (0, 2) else xc
        y = yc - h if k in (0, 1) else yc
        shown = _paste(canvas, image, x, y)
        boxes, classes = clip_and_filter(
            boxes + np.array([x, y, x, y], np.float32),
            classes,
            shown,
            config.min_box_size,
            config.min_area_ratio,
        )
        all_boxes.append(boxes)
        all_classes.append(classes)
    return (
        canvas,
        np.concatenate(all_boxes).astype(np.float32, copy=False),
        np.concatenate(all_classes),
    )


def mosaic(
    samples: Sequence[Sample], rng: np.random.Generator, size: int, config: AugmentConfig
) -> Sample:
    """A mosaic of four samples cropped back to size x size by a random affine."""
    image, boxes, classes = mosaic_canvas(samples, rng, size, config)
    return random_affine(image, boxes, classes, rng, config, out_size=(size, size))


def mixup(a: Sample, b: Sample, rng: np.random.Generator) -> Sample:
    """Blend two same-size samples with a weight ~ Beta(32, 32); keep both box sets."""
    (image_a, boxes_a, classes_a), (image_b, boxes_b, classes_b) = a, b
    if image_a.shape != image_b.shape:
        raise ValueError(f"mixup needs images of one size, got {image_a.shape} and {image_b.shape}")
    weight = rng.beta(32.0, 32.0)
    image = cv2.addWeighted(image_a, weight, image_b, 1.0 - weight, 0.0)
    return image, np.concatenate([boxes_a, boxes_b]), np.concatenate([classes_a, classes_b])


# -- colour and flips -----------------------------------------------------------------


def hsv_jitter(
    image: np.ndarray, rng: np.random.Generator, h_gain: float, s_gain: float, v_gain: float
) -> np.ndarray:
    """Multiply hue, saturation and value by random gains in 1 +- gain (through LUTs)."""
    gains = rng.uniform(-1, 1, 3) * (h_gain, s_gain, v_gain) + 1
    if not (h_gain or s_gain or v_gain):
        return image
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
    x = np.arange(256, dtype=np.float32)
    lut_hue = ((x * gains[0]) % 180).astype(np.uint8)  # OpenCV hue is 0..179
    lut_sat = np.clip(x * gains[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * gains[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def flip_lr(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right: x -> W - x."""
    w = image.shape[1]
    return cv2.flip(image, 1), np.stack(
        [w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], axis=1
    ).astype(boxes.dtype, copy=False)


def flip_ud(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror top-bottom: y -> H - y."""
    h = image.shape[0]
    return cv2.flip(image, 0), np.stack(
        [boxes[:, 0], h - boxes[:, 3], boxes[:, 2], h - boxes[:, 1]], axis=1
    ).astype(boxes.dtype, copy=False)


def color_and_flip(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The last, per-image steps: HSV jitter, then up-down and left-right flips."""
    image = hsv_jitter(image, rng, config.hsv_h, config.hsv_s, config.hsv_v)
    flip_up, flip_left = rng.random(2)
    if flip_up < config.flipud:
        image, boxes = flip_ud(image, boxes)
    if flip_left < config.fliplr:
        image, boxes = flip_lr(image, boxes)
    return image, boxes
