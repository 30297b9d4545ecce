"""Drawing boxes and labels: pixels change where boxes are, inputs stay untouched."""

from __future__ import annotations

import numpy as np
import pytest

from yolops.data.draw import GT_COLOR, PALETTE, class_color, draw_boxes, draw_detections
from yolops.detections import Detections


def blank(h: int = 120, w: int = 160, value: int = 30) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_box_outline_is_drawn_in_the_class_colour_and_the_inside_is_untouched():
    image = blank()
    det = Detections([[40, 40, 120, 100]], [0.87], [1], ("cat", "dog"))
    out = draw_detections(image, det, thickness=2)
    changed = np.any(out != image, axis=2)
    assert changed[70, 40] and changed[70, 119]  # left and right edges
    assert changed[99, 80]  # bottom edge (last pixel row of the box)
    assert not changed[70, 80]  # the middle of the box
    assert (
        not changed[5:30, 130:].any() and not changed[105:, :].any()
    )  # far from the box and label
    assert tuple(out[70, 40]) == class_color(1)
    # The label sits on a filled rectangle in the class colour just above the box.
    above = out[20:40, 40:100].reshape(-1, 3)
    assert (above == class_color(1)).all(axis=1).sum() > 100


def test_input_is_not_modified_and_empty_detections_give_an_equal_copy():
    image = blank()
    before = image.copy()
    draw_detections(image, Detections([[10, 10, 50, 50]], [0.5], [0]), ["a"])
    assert np.array_equal(image, before)
    out = draw_detections(image, Detections())
    assert np.array_equal(out, image) and out is not image
    out[0, 0] = 255
    assert np.array_equal(image, before)


def test_read_only_input_is_accepted():
    image = blank()
    image.setflags(write=False)
    out = draw_boxes(image, [[10, 10, 60, 60]], [0], ["a"])
    assert out.flags.writeable and np.any(out != image)


def test_draw_boxes_uses_the_given_colour():
    image = blank()
    out = draw_boxes(
        image, [[20, 20, 80, 80]], [3], ["a", "b", "c", "d"], color=GT_COLOR, thickness=1
    )
    assert tuple(out[50, 20]) == GT_COLOR
    assert not np.any(out[50, 50] != image[50, 50])
    default = draw_boxes(image, [[20, 20, 80, 80]], [3], thickness=1)
    assert tuple(default[50, 20]) == class_color(3)


def test_colours_are_stable_per_class_and_distinct_for_the_first_classes():
    assert class_color(0) == class_color(0) == PALETTE[0]
    assert class_color(len(PALETTE) + 2) == PALETTE[2]
    assert len(set(PALETTE)) == len(PALETTE)


def test_boxes_at_or_past_the_border_and_label_at_the_top_edge():
    image = blank(60, 80)
    det = Detections(
        [[0, 0, 30, 30], [-50, -50, 500, 500], [1000, 1000, 2000, 2000], [np.nan, 0, 5, 5]],
        [0.9, 0.8, 0.7, 0.6],
        [0, 1, 2, 3],
    )
    out = draw_detections(image, det, ["a", "b", "c", "d"])
    assert out.shape == image.shape
    # The first box's label goes inside the image, below the top edge.
    assert np.any(out[0:15, 0:30] != image[0:15, 0:30])


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_detections(np.zeros((10, 10), np.uint8), Detections())
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_boxes(np.zeros((10, 10, 3), np.float32), [], [])
    with pytest.raises(ValueError, match="class ids"):
        draw_boxes(blank(), [[0, 0, 1, 1]], [0, 1])
