"""Letterbox geometry: exact output size, box round trips, pixels and boxes agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from yolops.data.letterbox import (
    PAD_VALUE,
    LetterboxInfo,
    boxes_from_letterbox,
    boxes_to_letterbox,
    letterbox,
    scale_image,
    to_tensor,
)

# (original h, w) -> letterbox size: downscaling, upscaling, portrait, landscape, non-square.
CASES = [
    ((480, 640), 320),
    ((640, 480), 320),
    ((480, 640), 640),
    ((100, 50), 320),
    ((37, 211), 160),
    ((1000, 300), (256, 320)),
    ((333, 333), (200, 120)),
]


def white_rectangle(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 255
    return image


def white_extent(image: np.ndarray) -> np.ndarray:
    """Tight xyxy box (pixel corners) of the pixels brighter than mid-grey+."""
    ys, xs = np.nonzero(image.mean(axis=2) > 184)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize("orig, size", CASES)
def test_letterbox_output_is_exactly_size_and_centred(orig, size):
    image = np.full((*orig, 3), 7, np.uint8)
    out, info = letterbox(image, size)
    out_h, out_w = (size, size) if isinstance(size, int) else size
    assert out.shape == (out_h, out_w, 3) and out.dtype == np.uint8
    assert info.orig_size == orig
    assert info.ratio == pytest.approx(min(out_h / orig[0], out_w / orig[1]))
    # The image touches both borders along one axis; padding is split evenly (±1 px).
    content = np.argwhere(out[..., 0] == 7)
    (y0, x0), (y1, x1) = content.min(0), content.max(0) + 1
    assert (x0, y0) == info.pad
    assert abs((out_w - x1) - x0) <= 1 and abs((out_h - y1) - y0) <= 1
    assert x0 == 0 or y0 == 0
    assert (out[..., 0] == PAD_VALUE).sum() == out_h * out_w - (x1 - x0) * (y1 - y0)


@pytest.mark.parametrize("orig, size", CASES)
def test_boxes_round_trip(orig, size):
    h, w = orig
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1, (20, 4)) * [w, h, w, h]
    boxes = np.concatenate([np.minimum(xy[:, :2], xy[:, 2:]), np.maximum(xy[:, :2], xy[:, 2:])], 1)
    boxes = boxes.astype(np.float32)
    _, info = letterbox(np.zeros((h, w, 3), np.uint8), size)
    there = boxes_to_letterbox(boxes, info)
    back = boxes_from_letterbox(there, info)
    assert there.dtype == np.float32 and back.dtype == np.float32
    np.testing.assert_allclose(back, boxes, atol=1e-3)
    np.testing.assert_allclose(there, boxes * info.ratio + np.array(info.pad * 2), atol=1e-3)


@settings(max_examples=50, deadline=None)
@given(
    ratio=st.floats(0.01, 20),
    pad=st.tuples(st.integers(0, 1000), st.integers(0, 1000)),
    corners=st.lists(st.floats(0, 4000), min_size=4, max_size=4),
)
def test_round_trip_property(ratio, pad, corners):
    # float64 here: the arithmetic is exact; float32 storage costs ~ulp(letterboxed) / ratio.
    info = LetterboxInfo(ratio, (float(pad[0]), float(pad[1])), (4000, 4000))
    x1, y1, x2, y2 = corners
    box = np.array([[min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]], np.float64)
    back = boxes_from_letterbox(boxes_to_letterbox(box, info), info)
    assert back.dtype == np.float64
    np.testing.assert_allclose(back, box, atol=1e-6)


@pytest.mark.parametrize("orig, size", CASES)
def test_letterboxed_pixels_match_letterboxed_box(orig, size):
    h, w = orig
    box = (w // 4, h // 5, w // 4 + max(w // 2, 8), h // 5 + max(h // 2, 8))
    out, info = letterbox(white_rectangle(h, w, box), size)
    expected = boxes_to_letterbox(np.array([box], np.float32), info)[0]
    # Interpolation blurs one output pixel at each edge at most (plus one when upscaling).
    np.testing.assert_allclose(white_extent(out), expected, atol=1.0 + max(info.ratio - 1, 0))


def test_letterbox_scaleup_false_keeps_small_images_at_their_size():
    image = np.full((50, 100, 3), 9, np.uint8)
    out, info = letterbox(image, 320, scaleup=False)
    assert info.ratio == 1.0 and info.pad == (110.0, 135.0)
    assert (out[135:185, 110:210] == 9).all()
    # Still shrinks an image larger than the target.
    _, info = letterbox(np.zeros((640, 480, 3), np.uint8), 320, scaleup=False)
    assert info.ratio == 0.5


def test_letterbox_rejects_non_rgb():
    with pytest.raises(ValueError, match="shape"):
        letterbox(np.zeros((10, 10), np.uint8), 32)


def test_scale_image_size_rounds_and_keeps_slivers():
    assert scale_image(np.zeros((480, 640, 3), np.uint8), 0.5).shape == (240, 320, 3)
    assert scale_image(np.zeros((3, 1000, 3), np.uint8), 0.1).shape == (1, 100, 3)


def test_box_functions_accept_torch_tensors():
    _, info = letterbox(np.zeros((480, 640, 3), np.uint8), 320)
    boxes = torch.tensor([[10.0, 20.0, 110.0, 220.0]])
    there = boxes_to_letterbox(boxes, info)
    assert isinstance(there, torch.Tensor)
    torch.testing.assert_close(there, torch.tensor([[5.0, 50.0, 55.0, 150.0]]))
    torch.testing.assert_close(boxes_from_letterbox(there, info), boxes)
    # Integer pixel boxes become float rather than truncating.
    assert boxes_to_letterbox(np.array([[1, 1, 3, 3]]), info).dtype == np.float32


def test_to_tensor_layout_and_range():
    a = np.zeros((4, 6, 3), np.uint8)
    a[..., 0] = 255  # red
    b = np.full((4, 6, 3), 51, np.uint8)
    for images in ([a, b], np.stack([a, b])):
        t = to_tensor(images)
        assert t.shape == (2, 3, 4, 6) and t.dtype == torch.float32 and t.is_contiguous()
        assert t[0, 0].eq(1).all() and t[0, 1:].eq(0).all()
        torch.testing.assert_close(t[1], torch.full((3, 4, 6), 0.2))
    with pytest.raises(ValueError, match="shape"):
        to_tensor(np.zeros((4, 6, 3), np.uint8))
