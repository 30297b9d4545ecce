"""What the pyfunc model accepts as input (issue 16, item 2): one image, batches, lists of
images of different sizes, encoded bytes, base64 strings, the shapes MLflow serving and
Spark hand over; anything else is a YolopsError that says what was expected."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pandas as pd
import pytest

from yolops.errors import YolopsError
from yolops.track.pyfunc import as_image_list, model_signature


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _shapes(images: list[np.ndarray]) -> list[tuple[int, ...]]:
    assert all(i.dtype == np.uint8 and i.flags.c_contiguous for i in images)
    return [i.shape for i in images]


def test_one_image_as_the_readme_promises():
    image = _image(240, 320)
    (out,) = as_image_list(image)
    assert np.array_equal(out, image)


def test_batches_lists_and_ragged_lists():
    assert _shapes(as_image_list(np.zeros((2, 8, 9, 3), np.uint8))) == [(8, 9, 3)] * 2
    ragged = [_image(10, 20), _image(30, 5)]
    assert _shapes(as_image_list(ragged)) == [(10, 20, 3), (30, 5, 3)]
    as_objects = np.empty(2, dtype=object)
    as_objects[:] = ragged
    assert _shapes(as_image_list(as_objects)) == [(10, 20, 3), (30, 5, 3)]
    assert _shapes(as_image_list({"image": ragged})) == [(10, 20, 3), (30, 5, 3)]
    assert as_image_list([]) == []


def test_json_shaped_pixels_one_image_or_a_batch():
    """MLflow serving parses JSON numbers as int64 arrays; nested lists come from users."""
    image = _image(4, 6)
    (out,) = as_image_list(image.astype(np.int64))
    assert out.dtype == np.uint8 and np.array_equal(out, image)
    (out,) = as_image_list(image.tolist())
    assert np.array_equal(out, image)
    assert _shapes(as_image_list([image.tolist(), image.tolist()])) == [(4, 6, 3)] * 2
    ragged = [image.tolist(), _image(2, 3).tolist()]
    assert _shapes(as_image_list(ragged)) == [(4, 6, 3), (2, 3, 3)]


def test_encoded_bytes_and_base64_strings():
    a, b = _image(12, 16, 1), _image(7, 5, 2)
    (out,) = as_image_list(_png(a))
    assert np.array_equal(out, a)  # PNG is lossless; decoded as RGB
    b64 = [base64.b64encode(_png(x)).decode() for x in (a, b)]
    assert _shapes(as_image_list(b64)) == [(12, 16, 3), (7, 5, 3)]
    (out,) = as_image_list("data:image/png;base64," + b64[1])
    assert np.array_equal(out, b)
    assert _shapes(as_image_list(np.array(b64))) == [(12, 16, 3), (7, 5, 3)]
    assert _shapes(as_image_list(pd.DataFrame({"image": b64}))) == [(12, 16, 3), (7, 5, 3)]
    assert _shapes(as_image_list(pd.Series([_png(a), b64[1]]))) == [(12, 16, 3), (7, 5, 3)]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((4, 4), np.uint8), r"expected an image \(H, W, 3\) or a batch"),
        (np.zeros((4, 4, 4), np.uint8), r"the input: expected an RGB image \(H, W, 3\)"),
        (np.zeros((4, 4, 3), np.float32), "expected uint8 pixels"),
        (np.full((4, 4, 3), 300), r"pixel values must be in 0\.\.255"),
        ("not base64 at all!", "item 0|must be a base64-encoded image"),
        (b"\x89PNG but not really", "the input: .*cannot be decoded"),
        ([_image(4, 4), 7], "item 1: expected an RGB uint8 image"),
        ([[1, 2], [3]], "item 0"),
        (pd.DataFrame({"a": [1], "b": [2]}), "one column"),
        ({"a": 1, "b": 2}, "one input"),
        (3.5, "got float"),
    ],
)
def test_anything_else_is_a_clear_error(bad, message):
    with pytest.raises(YolopsError, match=message):
        as_image_list(bad)


def test_signature_enforces_no_input_layout_but_keeps_outputs_and_params():
    """An input schema made MLflow refuse a single (H, W, 3) image before predict ran."""
    signature = model_signature()
    assert signature.inputs is None
    assert signature.outputs.input_names()[0] == "image"
    assert [p.name for p in signature.params] == ["conf", "iou", "max_det"]
