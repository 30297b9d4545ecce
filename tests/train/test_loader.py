"""The input pipeline: validation letterbox, augmented samples, determinism, batches.
Its throughput is a benchmark: bench/bench_loader.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.images import read_image
from yolops.data.letterbox import PAD_VALUE, boxes_from_letterbox, letterbox
from yolops.errors import ImageReadError
from yolops.train.augment import AugmentConfig
from yolops.train.loader import Batch, DetectionDataset, build_loader, collate

S = 128
SIZES = [(480, 640), (640, 480), (100, 300), (90, 60), (128, 128), (300, 200)]  # (h, w)
# Pixel checks: no rotation or colour change, so white stays white and boxes stay tight.
GEOMETRIC = AugmentConfig(degrees=0, shear=0, hsv_h=0, hsv_s=0, hsv_v=0, flipud=0.5)


def _rectangles(h: int, w: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """A black image with two white rectangles well apart and away from the border."""
    boxes = np.array(
        [[0.10 * w, 0.15 * h, 0.40 * w, 0.45 * h], [0.55 * w, 0.50 * h, 0.85 * w, 0.85 * h]]
    ).round()
    image = np.zeros((h, w, 3), np.uint8)
    for x1, y1, x2, y2 in boxes.astype(int):
        image[y1:y2, x1:x2] = 255
    return image, boxes.astype(np.float32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    """Six PNGs of different shapes; image i's boxes have class i (to trace mosaic)."""
    root = tmp_path_factory.mktemp("images")
    records = []
    for i, (h, w) in enumerate(SIZES):
        image, boxes = _rectangles(h, w, i)
        path = root / f"img{i}.png"
        cv2.imwrite(str(path), image)
        records.append(ImageRecord(f"img{i}", path, w, h, boxes, [i, i]))
    return Dataset(records, [f"c{i}" for i in range(len(SIZES))], name="rects")


def assert_boxes_match_pixels(image: np.ndarray, boxes: np.ndarray, tol: float = 2.0) -> None:
    h, w = image.shape[:2]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    white = image.mean(axis=2) > (PAD_VALUE + 255) / 2
    for box in boxes:
        m = int(tol) + 2
        ox, oy = max(int(box[0]) - m, 0), max(int(box[1]) - m, 0)
        ys, xs = np.nonzero(white[oy : int(box[3]) + m + 1, ox : int(box[2]) + m + 1])
        assert len(xs), f"box {box} covers no white pixels"
        extent = np.array([xs.min() + ox, ys.min() + oy, xs.max() + 1 + ox, ys.max() + 1 + oy])
        np.testing.assert_allclose(extent, box, atol=tol, err_msg=f"box {box}")


def items_equal(a, b) -> bool:
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b))


# -- validation mode ------------------------------------------------------------------


def test_validation_items_are_the_predictors_letterbox(dataset):
    data = DetectionDataset(dataset, S, augment=None)
    for i, record in enumerate(dataset):
        image, boxes, classes, image_id, info = data[i]
        expected, expected_info = letterbox(read_image(record.path), S)
        np.testing.assert_array_equal(image, expected)
        assert info == expected_info and image_id == record.id
        assert boxes.dtype == np.float32 and classes.dtype == np.int64
        np.testing.assert_allclose(boxes_from_letterbox(boxes, info), record.boxes, atol=1e-3)
        np.testing.assert_array_equal(classes, record.classes)
        assert_boxes_match_pixels(image, boxes, tol=1.0)


def test_uncached_items_equal_cached_items(dataset):
    for augment in (None, AugmentConfig()):
        cached = DetectionDataset(dataset, S, augment, seed=3)
        fresh = DetectionDataset(dataset, S, augment, seed=3, cache=False)
        assert cached.cache_bytes > 0 and fresh.cache_bytes == 0
        for i in range(len(dataset)):
            assert items_equal(cached[i], fresh[i])


def test_unreadable_image_is_an_error_naming_the_file(tmp_path):
    missing = ImageRecord("gone", tmp_path / "gone.jpg", 10, 10)
    with pytest.raises(ImageReadError, match="gone.jpg"):
        DetectionDataset(Dataset([missing], ["a"]), S, None)


# -- augmented samples ------------------------------------------------------------------


@pytest.mark.parametrize("epoch", range(3))
def test_augmented_boxes_follow_the_pixels(dataset, epoch):
    data = DetectionDataset(dataset, S, GEOMETRIC, seed=1)
    data.set_epoch(epoch)
    total = 0
    for i in range(len(data)):
        image, boxes, classes, image_id, _ = data[i]
        assert image.shape == (S, S, 3) and image.dtype == np.uint8
        assert boxes.shape == (len(classes), 4) and boxes.dtype == np.float32
        assert image_id == dataset[i].id
        assert_boxes_match_pixels(image, boxes, tol=2.0)
        total += len(boxes)
    assert total >= len(data)  # crops drop some boxes, mosaics bring more in


def test_boxes_crossing_the_image_border_are_cut_to_the_image(dataset, tmp_path):
    # A wide image (padded above and below) whose rectangle reaches the bottom-right
    # corner; its label runs past the image (kept, with a warning, by the format readers).
    image = np.zeros((200, 400, 3), np.uint8)
    image[100:200, 300:400] = 255
    image[20:60, 20:80] = 255
    path = tmp_path / "crossing.png"
    cv2.imwrite(str(path), image)
    labels = [[300, 100, 440, 260], [20, 20, 80, 60]]
    crossing = ImageRecord("crossing", path, 400, 200, labels, [0, 0])
    data = DetectionDataset(
        Dataset([*dataset, crossing], dataset.class_names), S, GEOMETRIC, seed=0
    )
    index, seen = len(dataset), 0
    for mosaic_on in (False, True):
        data.set_mosaic(mosaic_on)
        for epoch in range(4):
            data.set_epoch(epoch)
            image, boxes, classes, *_ = data[index]
            assert_boxes_match_pixels(image, boxes, tol=2.0)
            seen += len(boxes)
    assert seen >= 8
    # Validation keeps the label as it is: predictions are compared with it unchanged.
    _, val_boxes, _, _, info = DetectionDataset(Dataset([crossing], ["c0"]), S, None)[0]
    np.testing.assert_allclose(boxes_from_letterbox(val_boxes, info), labels, atol=1e-3)


def test_same_seed_and_epoch_give_the_same_samples(dataset):
    a = DetectionDataset(dataset, S, AugmentConfig(mixup=0.5), seed=5)
    b = DetectionDataset(dataset, S, AugmentConfig(mixup=0.5), seed=5)
    for epoch in range(3):  # a walks through epochs 0..2, b jumps to 2 (a resume)
        a.set_epoch(epoch)
        [a[i] for i in range(len(a))]
    b.set_epoch(2)
    assert all(items_equal(a[i], b[i]) for i in range(len(a)))
    b.set_epoch(3)
    assert not any(np.array_equal(a[i][0], b[i][0]) for i in range(len(a)))
    other_seed = DetectionDataset(dataset, S, AugmentConfig(mixup=0.5), seed=6)
    other_seed.set_epoch(2)
    assert not any(np.array_equal(a[i][0], other_seed[i][0]) for i in range(len(a)))


def test_set_mosaic_false_uses_one_image_per_sample(dataset):
    data = DetectionDataset(dataset, S, AugmentConfig(mosaic=1.0), seed=0)
    mixed = 0
    for epoch in range(2):
        data.set_epoch(epoch)
        mixed += sum(bool(set(data[i][2].tolist()) - {i}) for i in range(len(data)))
    assert mixed > 0  # mosaic brings boxes of other images in
    data.set_mosaic(False)
    for epoch in range(2):
        data.set_epoch(epoch)
        for i in range(len(data)):
            assert set(data[i][2].tolist()) <= {i}
    assert DetectionDataset(dataset, S, AugmentConfig(mosaic=0.0)).mosaic_enabled is False


# -- batches and loaders ----------------------------------------------------------------


def test_collate_layout():
    image = np.full((S, S, 3), 255, np.uint8)
    items = [
        (image, np.array([[1, 2, 3, 4]], np.float32), np.array([2]), "a", None),
        (image * 0, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), "b", None),
        (image, np.array([[5, 6, 7, 8], [9, 10, 11, 12]], np.float32), np.array([0, 1]), "c", None),
    ]
    batch = collate(items)
    assert isinstance(batch, Batch) and len(batch) == 3
    assert batch.images.shape == (3, 3, S, S) and batch.images.dtype == torch.float32
    assert batch.images[0].eq(1).all() and batch.images[1].eq(0).all()
    assert batch.targets.dtype == torch.float32
    torch.testing.assert_close(
        batch.targets,
        torch.tensor(
            [[0, 2, 1, 2, 3, 4], [2, 0, 5, 6, 7, 8], [2, 1, 9, 10, 11, 12]], dtype=torch.float32
        ),
    )
    assert batch.image_ids == ["a", "b", "c"]
    assert collate(items[1:2]).targets.shape == (0, 6)


def _epoch(loader, epoch: int) -> list[Batch]:
    loader.dataset.set_epoch(epoch)
    return list(loader)


def test_loader_order_and_batches_are_reproducible_per_epoch(dataset):
    loader = build_loader(dataset, S, batch_size=4, augment=AugmentConfig(), shuffle=True, seed=2)
    again = build_loader(dataset, S, batch_size=4, augment=AugmentConfig(), shuffle=True, seed=2)
    orders = {}
    for epoch in (0, 1, 2):
        batches = _epoch(loader, epoch)
        ids = [i for b in batches for i in b.image_ids]
        assert sorted(ids) == sorted(dataset.ids) and [len(b) for b in batches] == [4, 2]
        orders[epoch] = ids
    assert len({tuple(o) for o in orders.values()}) == 3  # the order changes with the epoch
    resumed = _epoch(again, 2)  # a fresh loader at epoch 2: same order, same tensors
    assert [i for b in resumed for i in b.image_ids] == orders[2]
    for x, y in zip(_epoch(loader, 2), resumed):
        assert torch.equal(x.images, y.images) and torch.equal(x.targets, y.targets)
    plain = build_loader(dataset, S, batch_size=4, augment=None, shuffle=False)
    assert [i for b in plain for i in b.image_ids] == dataset.ids


def test_worker_processes_give_the_same_batches(dataset):
    kwargs = {"imgsz": S, "batch_size": 3, "augment": AugmentConfig(), "shuffle": True, "seed": 4}
    inline = _epoch(build_loader(dataset, workers=0, **kwargs), 1)
    workers = _epoch(build_loader(dataset, workers=2, **kwargs), 1)
    for x, y in zip(inline, workers, strict=True):
        assert x.image_ids == y.image_ids
        assert torch.equal(x.images, y.images) and torch.equal(x.targets, y.targets)
