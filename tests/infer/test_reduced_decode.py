"""Reduced JPEG decoding for inference: the factor, the original size (EXIF
orientation included) and boxes that match a full decode in original pixels."""

import io
import warnings

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from yolops.data.images import decode_for_model, decode_image, jpeg_oriented_size, reduction_factor
from yolops.errors import YolopsError
from yolops.infer.predictor import OnnxPredictor, predict_sized, predict_source

IMGSZ = 256


class ColourBlobs(nn.Module):
    """A 'detector' that boxes the red and the blue blob of an image from their moments
    (sub-pixel exact, so reduced and full decodes can be compared closely): output
    (1, 6, 2) like an Ultralytics export, anchor 0 the red blob (class 0), 1 the blue."""

    def forward(self, images):
        r, g, b = images[:, 0], images[:, 1], images[:, 2]
        h, w = images.shape[2], images.shape[3]
        ys = (torch.arange(h, dtype=torch.float32) + 0.5)[:, None]
        xs = (torch.arange(w, dtype=torch.float32) + 0.5)[None, :]
        rows = []
        for weight in (torch.relu(r - g), torch.relu(b - g)):  # grey padding and black give 0
            total = weight.sum((1, 2)) + 1e-6
            cx, cy = (weight * xs).sum((1, 2)) / total, (weight * ys).sum((1, 2)) / total
            vx = (weight * (xs - cx[:, None, None]) ** 2).sum((1, 2)) / total
            vy = (weight * (ys - cy[:, None, None]) ** 2).sum((1, 2)) / total
            rows.append(
                torch.stack([cx, cy, (12 * vx).sqrt(), (12 * vy).sqrt()], 1)
            )  # uniform: w^2 / 12
        boxes = torch.stack(rows, 2)  # (1, 4, 2)
        scores = torch.tensor([[[0.9, 0.0], [0.0, 0.9]]]).expand(images.shape[0], 2, 2)
        return torch.cat([boxes, scores], 1)


@pytest.fixture(scope="module")
def blobs_onnx(tmp_path_factory):
    import onnx

    path = tmp_path_factory.mktemp("blobs") / "blobs.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ColourBlobs(),
            (torch.zeros(1, 3, IMGSZ, IMGSZ),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["output0"],
        )
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {"names": '["red", "blue"]'})
    onnx.save(proto, str(path))
    return path


RED_BOX = (150, 120, 610, 470)  # x1, y1, x2, y2 in the 1100x800 scene
BLUE_BOX = (700, 300, 1020, 760)


def blob_scene(width=1100, height=800) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[RED_BOX[1] : RED_BOX[3], RED_BOX[0] : RED_BOX[2]] = (230, 0, 0)
    image[BLUE_BOX[1] : BLUE_BOX[3], BLUE_BOX[0] : BLUE_BOX[2]] = (0, 0, 230)
    return image


def jpeg(image: np.ndarray, orientation: int | None = None, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    Image.fromarray(image).save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def test_factor_is_the_largest_that_keeps_the_longer_side_at_imgsz():
    assert reduction_factor(640, 480, 320) == 2
    assert reduction_factor(480, 640, 320) == 2
    assert reduction_factor(640, 480, 640) == 1
    assert reduction_factor(4000, 3000, 320) == 8
    assert reduction_factor(4000, 3000, 640) == 4
    assert reduction_factor(641, 480, 321) == 2  # libjpeg gives ceil(641 / 2) = 321 columns
    assert reduction_factor(637, 480, 320) == 1  # 319 columns would be upsampled
    assert reduction_factor(300, 200, 320) == 1  # already below the input size: never reduced
    assert reduction_factor(4000, 6, 320) == 4  # a 1/8 decode would leave no whole row


def test_png_and_small_jpegs_decode_in_full():
    image = blob_scene(640, 480)
    ok, png = cv2.imencode(".png", image)
    pixels, size = decode_for_model(png.tobytes(), 320)
    assert pixels.shape == (480, 640, 3) and size == (640, 480)
    np.testing.assert_array_equal(pixels, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    data = jpeg(image)
    pixels, size = decode_for_model(data, 640)
    assert size == (640, 480)
    np.testing.assert_array_equal(pixels, decode_image(data))


def test_jpeg_decodes_reduced_with_its_original_size():
    data = jpeg(blob_scene(641, 481))
    pixels, size = decode_for_model(data, 320)
    assert size == (641, 481) and pixels.shape == (241, 321, 3)  # libjpeg: ceil(side / 2)
    full = cv2.resize(decode_image(data), (321, 241), interpolation=cv2.INTER_AREA)
    assert np.abs(pixels.astype(int) - full.astype(int)).mean() < 3  # the same picture, smaller


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_gives_the_oriented_size(orientation):
    data = jpeg(blob_scene(640, 480), orientation)
    full = decode_image(data)  # OpenCV applies the orientation, as PIL's exif_transpose does
    swapped = orientation in (5, 6, 7, 8)
    assert full.shape[:2] == ((640, 480) if swapped else (480, 640))
    assert jpeg_oriented_size(data) == (full.shape[1], full.shape[0])
    pixels, size = decode_for_model(data, 320)
    assert size == (full.shape[1], full.shape[0])
    assert pixels.shape[:2] == (
        full.shape[0] // 2,
        full.shape[1] // 2,
    )  # the reduced decode is oriented too
    small = cv2.resize(full, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(pixels.astype(int) - small.astype(int)).mean() < 3


def test_not_an_image_still_fails_naming_the_source():
    with pytest.raises(YolopsError, match="upload.jpg: cannot be decoded"):
        decode_for_model(b"\xff\xd8\xff garbage", 320, "upload.jpg")


@pytest.mark.parametrize("orientation", [None, 6])
def test_reduced_and_full_decode_give_the_same_boxes(blobs_onnx, orientation):
    p = OnnxPredictor(blobs_onnx)
    data = jpeg(blob_scene(), orientation)
    full = p.predict([decode_image(data)], conf=0.5)[0]
    pixels, size = decode_for_model(data, IMGSZ)
    assert pixels.shape[0] < size[1] and pixels.shape[1] < size[0]  # 1/4 of 1100x800
    reduced = p.predict([pixels], conf=0.5, original_sizes=[size])[0]
    assert full.classes.tolist() == reduced.classes.tolist() == [0, 1]
    np.testing.assert_allclose(reduced.boxes, full.boxes, atol=1.0)  # measured: < 0.5 px
    if orientation is None:  # and both are where the blobs are
        np.testing.assert_allclose(full.boxes, [RED_BOX, BLUE_BOX], atol=3.0)
    # Without the original size, boxes are in the reduced image's pixels.
    small = p.predict([pixels], conf=0.5)[0]
    np.testing.assert_allclose(small.boxes * 4, full.boxes, atol=8.0)


def test_boxes_are_clipped_to_the_original_image(blobs_onnx):
    p = OnnxPredictor(blobs_onnx)
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :150] = (230, 0, 0)  # the red blob touches the left, top and bottom edges
    dets = p.predict([image], conf=0.5, original_sizes=[(600, 400)])[0]
    assert (
        dets.boxes[:, [0, 1]].min() >= 0
        and dets.boxes[:, 2].max() <= 600
        and dets.boxes[:, 3].max() <= 400
    )
    np.testing.assert_allclose(dets.boxes[0], [0, 0, 300, 400], atol=2.0)


def test_original_sizes_must_match_the_batch(blobs_onnx):
    p = OnnxPredictor(blobs_onnx)
    with pytest.raises(YolopsError, match="original_sizes has 2 entries for a batch of 1"):
        p.predict([blob_scene(64, 64)], original_sizes=[(64, 64), None])
    with pytest.raises(YolopsError, match=r"original_sizes\[0\]"):
        p.predict([blob_scene(64, 64)], original_sizes=[(0, 64)])


def test_predict_source_reduced_decode_keeps_original_pixels(blobs_onnx, tmp_path):
    p = OnnxPredictor(blobs_onnx)
    (tmp_path / "scene.jpg").write_bytes(jpeg(blob_scene()))
    cv2.imwrite(str(tmp_path / "scene.png"), blob_scene()[..., ::-1])
    full = list(predict_sized(p, tmp_path, conf=0.5))
    reduced = list(predict_sized(p, tmp_path, conf=0.5, reduced_decode=True))
    assert [(n, s) for n, _, s, _ in full] == [(n, s) for n, _, s, _ in reduced]
    assert all(s == (1100, 800) for _, _, s, _ in reduced)
    (_, jpg_image, _, jpg_dets), (_, png_image, _, png_dets) = reduced
    assert jpg_image.shape == (200, 275, 3) and png_image.shape == (
        800,
        1100,
        3,
    )  # PNGs are never reduced
    for (_, _, _, a), (_, _, _, b) in zip(full, reduced):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=2.0)
    streamed = [
        d for _, _, d in predict_source(p, tmp_path / "scene.jpg", conf=0.5, reduced_decode=True)
    ]
    np.testing.assert_allclose(streamed[0].boxes, jpg_dets.boxes)
