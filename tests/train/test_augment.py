"""Augmentations keep boxes and pixels together.

The images are black with white rectangles; after an augmentation, the white
pixels inside and around each output box must fill it tightly, and every box
must stay inside the canvas. The grey padding (114) is told apart from white.
"""

from __future__ import annotations

import numpy as np
import pytest

from yolops.data.letterbox import PAD_VALUE
from yolops.errors import ConfigError
from yolops.train.augment import (
    AugmentConfig,
    affine_matrix,
    clip_and_filter,
    color_and_flip,
    flip_lr,
    flip_ud,
    hsv_jitter,
    mixup,
    mosaic,
    mosaic_canvas,
    random_affine,
    warp_boxes,
    warp_image,
)

NO_COLOUR = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0}


def rectangles(h: int, w: int, boxes: list[tuple[int, int, int, int]]):
    """A black (h, w, 3) image with white rectangles at xyxy ``boxes``; a sample."""
    image = np.zeros((h, w, 3), np.uint8)
    for x1, y1, x2, y2 in boxes:
        image[y1:y2, x1:x2] = 255
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.arange(len(boxes), dtype=np.int64)


def white_extent(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def assert_boxes_match_pixels(image: np.ndarray, boxes: np.ndarray, tol: float = 2.0) -> None:
    """Every box lies in the canvas and tightly bounds the white pixels near it."""
    h, w = image.shape[:2]
    assert boxes.dtype == np.float32
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    # Halfway between the grey padding and white, so a white/grey edge counts too.
    white = image.mean(axis=2) > (PAD_VALUE + 255) / 2
    for box in boxes:
        x1, y1, x2, y2 = box
        m = int(tol) + 2
        ox, oy = max(int(x1) - m, 0), max(int(y1) - m, 0)
        near = white[oy : min(int(y2) + m + 1, h), ox : min(int(x2) + m + 1, w)]
        extent = white_extent(near)
        assert extent is not None, f"box {box} covers no white pixels"
        np.testing.assert_allclose(extent + [ox, oy, ox, oy], box, atol=tol, err_msg=f"box {box}")


# -- config -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"mosaic": 1.5},
        {"fliplr": -0.1},
        {"scale": 1.0},
        {"translate": 0.7},
        {"min_area_ratio": 2.0},
        {"degrees": float("nan")},
    ],
)
def test_config_rejects_out_of_range_values(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        AugmentConfig(**bad)


# -- boxes --------------------------------------------------------------------------


def test_clip_and_filter_keeps_classes_aligned():
    boxes = np.array(
        [
            [10, 10, 50, 50],  # inside: kept as is
            [-20, 10, 20, 50],  # half out: clipped, kept
            [-95, 10, 5, 50],  # 5% left: dropped by area ratio
            [30, 30, 31.5, 60],  # 1.5 px wide: dropped by size
            [120, 10, 150, 50],  # wholly outside: dropped
        ],
        np.float32,
    )
    classes = np.arange(5, dtype=np.int64)
    kept, kept_classes = clip_and_filter(boxes, classes, (0, 0, 100, 100), 2.0, 0.1)
    np.testing.assert_array_equal(kept, [[10, 10, 50, 50], [0, 10, 20, 50]])
    np.testing.assert_array_equal(kept_classes, [0, 1])
    empty, none = clip_and_filter(
        np.zeros((0, 4), np.float32), np.zeros(0, np.int64), (0, 0, 9, 9), 2, 0.1
    )
    assert empty.shape == (0, 4) and none.shape == (0,)


def test_warp_boxes_scale_translate_and_rotate():
    boxes = np.array([[10, 20, 30, 60]], np.float32)
    m = np.array([[2, 0, 5], [0, 2, -3], [0, 0, 1]], np.float64)
    np.testing.assert_allclose(warp_boxes(boxes, m), [[25, 37, 65, 117]])
    quarter_turn = np.array(
        [[0, -1, 100], [1, 0, 0], [0, 0, 1]], np.float64
    )  # (x, y) -> (100-y, x)
    np.testing.assert_allclose(warp_boxes(boxes, quarter_turn), [[40, 10, 80, 30]])


def test_affine_matrix_without_rotation_is_scale_and_shift():
    config = AugmentConfig(degrees=0, shear=0, scale=0.5, translate=0.1)
    for seed in range(10):
        m = affine_matrix(np.random.default_rng(seed), config, (200, 300), (100, 100))
        assert m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == pytest.approx(m[1, 1])
        assert 0.5 <= m[0, 0] <= 1.5
        # The input centre lands within translate * size of the output centre.
        cx, cy = m[:2, :2] @ [150, 100] + m[:2, 2]
        assert abs(cx - 50) <= 10 + 1e-9 and abs(cy - 50) <= 10 + 1e-9


# -- flips --------------------------------------------------------------------------


def test_flips_move_pixels_and_boxes_together():
    image, boxes, _ = rectangles(60, 80, [(5, 10, 25, 30), (50, 35, 78, 59)])
    out, flipped = flip_lr(image, boxes)
    np.testing.assert_array_equal(flipped, [[55, 10, 75, 30], [2, 35, 30, 59]])
    assert_boxes_match_pixels(out, flipped, tol=0)
    out, flipped = flip_ud(image, boxes)
    np.testing.assert_array_equal(flipped, [[5, 30, 25, 50], [50, 1, 78, 25]])
    assert_boxes_match_pixels(out, flipped, tol=0)


@pytest.mark.parametrize("fliplr, flipud", [(1.0, 0.0), (0.0, 1.0), (0.0, 0.0)])
def test_color_and_flip_applies_flips_by_probability(fliplr, flipud):
    image, boxes, _ = rectangles(40, 40, [(2, 3, 10, 20)])
    config = AugmentConfig(fliplr=fliplr, flipud=flipud, **NO_COLOUR)
    out, moved = color_and_flip(image, boxes, np.random.default_rng(0), config)
    expected = {
        (1.0, 0.0): [30, 3, 38, 20],
        (0.0, 1.0): [2, 20, 10, 37],
        (0.0, 0.0): [2, 3, 10, 20],
    }
    np.testing.assert_array_equal(moved[0], expected[(fliplr, flipud)])
    assert_boxes_match_pixels(out, moved, tol=0)


# -- affine -------------------------------------------------------------------------


def test_warp_image_moves_pixels_as_the_boxes_move():
    # A 2x zoom of a rectangle [10, 20) maps it to [20, 40): the blurred edges must be
    # symmetric about that span (a half-pixel error would shift them by 0.5 px).
    image, boxes, _ = rectangles(40, 40, [(10, 10, 20, 20)])
    zoom = np.diag([2.0, 2.0, 1.0])
    out = warp_image(image, zoom, (80, 80))
    row = out[30, :, 0].astype(int)
    np.testing.assert_array_equal(row[10:50], row[10:50][::-1])
    assert row[10:50].sum() == pytest.approx(20 * 255, abs=2)  # the area is kept
    np.testing.assert_allclose(warp_boxes(boxes, zoom), [[20, 20, 40, 40]])


@pytest.mark.parametrize("seed", range(12))
def test_random_affine_scale_translate_keeps_boxes_on_pixels(seed):
    image, boxes, classes = rectangles(
        320, 320, [(20, 30, 120, 90), (200, 40, 300, 280), (40, 200, 90, 300)]
    )
    config = AugmentConfig(degrees=0, shear=0, scale=0.5, translate=0.3)
    rng = np.random.default_rng(seed)
    out, moved, kept = random_affine(image, boxes, classes, rng, config)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert_boxes_match_pixels(out, moved, tol=2.0)
    # Each box that went is one the crop left with less than 10% of its area (or < 2 px).
    m = affine_matrix(np.random.default_rng(seed), config, (320, 320), (320, 320))
    full = warp_boxes(boxes, m)
    for cls in set(classes) - set(kept):
        b = full[cls]
        vis = np.clip(b, 0, 320)
        w, h = vis[2] - vis[0], vis[3] - vis[1]
        assert w < 2 or h < 2 or w * h < 0.1 * (b[2] - b[0]) * (b[3] - b[1])


@pytest.mark.parametrize("seed", range(6))
def test_random_affine_with_rotation_and_shear_encloses_pixels(seed):
    image, boxes, classes = rectangles(200, 300, [(60, 50, 160, 120), (190, 100, 260, 180)])
    config = AugmentConfig(degrees=30, shear=10, scale=0.3, translate=0.1)
    out, moved, _kept = random_affine(
        image, boxes, classes, np.random.default_rng(seed), config, out_size=(160, 240)
    )
    assert out.shape == (160, 240, 3)
    assert (
        (moved >= 0).all() and (moved[:, [0, 2]] <= 240).all() and (moved[:, [1, 3]] <= 160).all()
    )
    white = out.mean(axis=2) > (PAD_VALUE + 255) / 2
    for box in moved:
        x1, y1, x2, y2 = box
        ox, oy = max(int(x1) - 3, 0), max(int(y1) - 3, 0)
        extent = white_extent(white[oy : int(y2) + 4, ox : int(x2) + 4])
        assert extent is not None
        extent += [ox, oy, ox, oy]
        # The box encloses the rotated rectangle ...
        assert (extent[:2] >= box[:2] - 1.5).all() and (extent[2:] <= box[2:] + 1.5).all()
        # ... and touches it on every side, unless the canvas cut a corner off (the
        # box then encloses the whole rotated corner, not only what is left of it).
        if x1 > 0 and y1 > 0 and x2 < 240 and y2 < 160:
            np.testing.assert_allclose(extent, box, atol=2.5)


def test_random_affine_identity_returns_the_image_untouched():
    image, boxes, classes = rectangles(50, 70, [(5, 5, 30, 40)])
    config = AugmentConfig(degrees=0, shear=0, scale=0, translate=0)
    out, moved, _kept = random_affine(image, boxes, classes, np.random.default_rng(0), config)
    assert out is image
    np.testing.assert_allclose(moved, boxes)


# -- mosaic and mixup -----------------------------------------------------------------


def four_samples(s: int):
    """Images with a long side of s, one or two rectangles each, away from the edges."""
    return [
        rectangles(s * 3 // 4, s, [(s // 5, s // 5, s // 2, s // 2)]),
        rectangles(s, s * 3 // 4, [(s // 4, s // 3, s // 2, s * 3 // 4)]),
        rectangles(
            s,
            s,
            [
                (s // 5, s // 5, s * 2 // 5, s * 2 // 5),
                (s * 3 // 5, s * 3 // 5, s * 4 // 5, s * 4 // 5),
            ],
        ),
        rectangles(s // 2, s, [(s // 3, s // 10, s * 2 // 3, s * 2 // 5)]),
    ]


@pytest.mark.parametrize("seed", range(8))
def test_mosaic_canvas_places_four_images_with_their_boxes(seed):
    s = 160
    samples = four_samples(s)
    image, boxes, classes = mosaic_canvas(samples, np.random.default_rng(seed), s, AugmentConfig())
    assert image.shape == (2 * s, 2 * s, 3)
    assert len(boxes) == len(classes) <= 5
    assert_boxes_match_pixels(image, boxes, tol=0)
    # Pieces of all four images are on the canvas: it is not mostly padding.
    assert (image.mean(axis=2) != PAD_VALUE).mean() > 0.25


@pytest.mark.parametrize("seed", range(8))
def test_mosaic_crops_back_to_size_with_consistent_boxes(seed):
    s = 160
    config = AugmentConfig(degrees=0, shear=0, **NO_COLOUR)
    image, boxes, classes = mosaic(four_samples(s), np.random.default_rng(seed), s, config)
    assert image.shape == (s, s, 3) and image.dtype == np.uint8
    assert boxes.shape == (len(classes), 4) and classes.dtype == np.int64
    assert len(boxes) <= 5
    assert_boxes_match_pixels(image, boxes, tol=2.0)


def test_mosaic_is_a_function_of_the_generator():
    samples = four_samples(96)
    a = mosaic(samples, np.random.default_rng(7), 96, AugmentConfig())
    b = mosaic(samples, np.random.default_rng(7), 96, AugmentConfig())
    c = mosaic(samples, np.random.default_rng(8), 96, AugmentConfig())
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_mixup_blends_images_and_keeps_both_box_sets():
    a = rectangles(32, 32, [(0, 0, 10, 10)])
    b = rectangles(32, 32, [(20, 20, 30, 30), (1, 20, 9, 31)])
    image, boxes, classes = mixup(a, b, np.random.default_rng(0))
    assert image.shape == (32, 32, 3)
    assert len(boxes) == 3 and classes.tolist() == [0, 0, 1]
    # Near-even weights: each white region shows at about half brightness.
    assert 100 < image[5, 5, 0] < 155 and 100 < image[25, 25, 0] < 155 and image[15, 15, 0] == 0
    with pytest.raises(ValueError):
        mixup(a, rectangles(16, 32, []), np.random.default_rng(0))


# -- colour -------------------------------------------------------------------------


def test_hsv_jitter_changes_colour_but_not_greys_by_hue_or_saturation():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    greys = np.repeat(rng.integers(0, 256, (24, 24, 1), dtype=np.uint8), 3, axis=2)
    out = hsv_jitter(colour, np.random.default_rng(1), 0.015, 0.7, 0.4)
    assert out.shape == colour.shape and out.dtype == np.uint8
    assert not np.array_equal(out, colour)
    # Greys have no saturation, so hue and saturation gains leave them alone.
    np.testing.assert_array_equal(hsv_jitter(greys, np.random.default_rng(1), 0.5, 0.9, 0.0), greys)
    assert hsv_jitter(colour, np.random.default_rng(1), 0.0, 0.0, 0.0) is colour
