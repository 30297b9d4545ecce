"""The detector's input pipeline: cached images, augmented samples, batches.

Each image is decoded once and kept in RAM scaled so that its long side is
``imgsz``; samples are built from that cache. Validation (``augment=None``) is a
plain letterbox to imgsz x imgsz, the same pixels the predictor sees, so that
:func:`yolops.data.letterbox.boxes_from_letterbox` maps predictions back exactly.

Randomness is a function of (seed, epoch, index) only: a batch is reproducible,
identical after a resume, and independent of the number of worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from yolops.data.dataset import Dataset
from yolops.data.images import read_image
from yolops.data.letterbox import (
    LetterboxInfo,
    boxes_to_letterbox,
    letterbox,
    scale_image,
    to_tensor,
)
from yolops.errors import ConfigError
from yolops.train.augment import (
    AugmentConfig,
    Sample,
    clip_and_filter,
    color_and_flip,
    mixup,
    mosaic,
    random_affine,
)

# Tags that keep the per-item and the shuffling random streams apart.
_STREAM_ORDER, _STREAM_ITEM = 0, 1

Item = tuple[np.ndarray, np.ndarray, np.ndarray, str, LetterboxInfo]


class _Scaled(NamedTuple):
    """An image scaled so that its long side is imgsz, and how."""

    image: np.ndarray  # (h, w, 3) uint8 RGB, max(h, w) == imgsz
    ratio: float  # scaled / original pixels
    orig_size: tuple[int, int]  # (h, w) of the decoded original


@dataclass
class Batch:
    """A collated batch.

    ``images`` float32 (B, 3, S, S) in [0, 1]; ``targets`` float32 (M, 6) rows of
    [batch_index, class_id, x1, y1, x2, y2] in input (letterboxed) pixels;
    ``letterbox[i]`` maps image i's boxes back to its original pixels (exact in
    validation mode; for augmented images it is the un-augmented letterbox).
    """

    images: torch.Tensor
    targets: torch.Tensor
    image_ids: list[str]
    letterbox: list[LetterboxInfo]

    def __len__(self) -> int:
        return len(self.image_ids)

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.images.to(device), self.targets.to(device), self.image_ids, self.letterbox
        )


class DetectionDataset(torch.utils.data.Dataset):
    """Samples of a :class:`Dataset` at ``imgsz``: augmented when ``augment`` is given,
    letterboxed only when it is None.

    ``__getitem__`` returns (image uint8 (S, S, 3), boxes float32 (N, 4) xyxy in
    letterboxed pixels, classes int64 (N,), image id, :class:`LetterboxInfo`).
    """

    def __init__(
        self,
        dataset: Dataset,
        imgsz: int,
        augment: AugmentConfig | None,
        seed: int = 0,
        cache: bool = True,
    ):
        if seed < 0 or imgsz <= 0:
            raise ConfigError(f"loader needs seed >= 0 and imgsz > 0, got {seed} and {imgsz}")
        self.records = dataset.records
        self.imgsz = int(imgsz)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self.mosaic_enabled = augment is not None and augment.mosaic > 0
        self._cache: list[_Scaled] | None = None
        # OpenCV's threads gain nothing on images this small (warpAffine to 320x320:
        # same speed with 0 or 2 threads) and would compete with torch's for the cores.
        cv2.setNumThreads(0)
        if cache:
            # Decoding releases the GIL: threads use both cores without copying the cache.
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                self._cache = list(pool.map(self._decode, range(len(self.records))))

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch`` (augmentation and shuffling)."""
        self.epoch = int(epoch)

    def set_mosaic(self, enabled: bool) -> None:
        """Turn mosaic on or off (the last epochs train on whole images)."""
        self.mosaic_enabled = bool(enabled)

    @property
    def cache_bytes(self) -> int:
        return sum(s.image.nbytes for s in self._cache or ())

    # -- images at the cache scale -----------------------------------------------------

    def _decode(self, index: int) -> _Scaled:
        image = read_image(self.records[index].path)
        h, w = image.shape[:2]
        ratio = self.imgsz / max(h, w)
        return _Scaled(scale_image(image, ratio), ratio, (h, w))

    def _scaled(self, index: int) -> _Scaled:
        return self._cache[index] if self._cache is not None else self._decode(index)

    def _sample(self, index: int) -> Sample:
        """Image (long side imgsz) and its boxes scaled with it, for augmentation.

        Boxes are cut to the image: one that crosses the border (reported when the
        dataset was loaded) would otherwise label padding or a mosaic neighbour.
        """
        scaled = self._scaled(index)
        record = self.records[index]
        h, w = scaled.image.shape[:2]
        boxes, classes = clip_and_filter(
            record.boxes * np.float32(scaled.ratio),
            record.classes,
            (0, 0, w, h),
            min_box_size=0.0,  # size is judged after the geometric step
            min_area_ratio=self.augment.min_area_ratio,
        )
        return scaled.image, boxes, classes

    def _letterboxed(self, index: int) -> tuple[Sample, LetterboxInfo]:
        """The validation sample: image padded to imgsz x imgsz, boxes exact (not clipped)."""
        scaled = self._scaled(index)
        # The long side is already imgsz, so this only pads (ratio 1).
        image, padding = letterbox(scaled.image, self.imgsz)
        info = LetterboxInfo(scaled.ratio, padding.pad, scaled.orig_size)
        record = self.records[index]
        return (image, boxes_to_letterbox(record.boxes, info), record.classes), info

    # -- samples ---------------------------------------------------------------------

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, _STREAM_ITEM, index])

    def _geometric(self, index: int, rng: np.random.Generator) -> Sample:
        """Mosaic of ``index`` and 3 random others, or the image padded to a square;
        then a random affine to imgsz x imgsz."""
        config = self.augment
        if self.mosaic_enabled and rng.random() < config.mosaic:
            others = rng.integers(0, len(self), size=3)
            samples = [self._sample(int(i)) for i in (index, *others)]
            return mosaic(samples, rng, self.imgsz, config)
        image, boxes, classes = self._sample(index)
        image, info = letterbox(image, self.imgsz)  # pads only
        pad_x, pad_y = info.pad
        boxes = boxes + np.array([pad_x, pad_y, pad_x, pad_y], np.float32)
        return random_affine(image, boxes, classes, rng, config)

    def _augmented(self, index: int) -> Sample:
        rng = self._rng(index)
        config = self.augment
        image, boxes, classes = self._geometric(index, rng)
        if rng.random() < config.mixup:
            other = self._geometric(int(rng.integers(0, len(self))), rng)
            image, boxes, classes = mixup((image, boxes, classes), other, rng)
        image, boxes = color_and_flip(image, boxes, rng, config)
        return image, boxes, classes

    def __getitem__(self, index: int) -> Item:
        sample, info = self._letterboxed(index)
        if self.augment is not None:
            sample = self._augmented(index)  # ``info`` stays the plain letterbox
        image, boxes, classes = sample
        boxes = np.ascontiguousarray(boxes, np.float32).reshape(-1, 4)
        classes = np.ascontiguousarray(classes, np.int64).reshape(-1)
        return image, boxes, classes, self.records[index].id, info


def collate(items: Sequence[Item]) -> Batch:
    """Stack :class:`DetectionDataset` items into a :class:`Batch`."""
    images, boxes, classes, ids, infos = zip(*items)
    index = np.concatenate([np.full(len(b), i, np.float32) for i, b in enumerate(boxes)])
    targets = np.concatenate(
        [
            index[:, None],
            np.concatenate(classes)[:, None].astype(np.float32),
            np.concatenate(boxes),
        ],
        axis=1,
    )
    return Batch(to_tensor(images), torch.from_numpy(targets), list(ids), list(infos))


class EpochSampler(Sampler[int]):
    """Indices of a :class:`DetectionDataset`, shuffled by a torch.Generator seeded
    from (seed, epoch): ``dataset.set_epoch(k)`` alone fixes epoch k's order."""

    def __init__(self, dataset: DetectionDataset, shuffle: bool):
        self.dataset = dataset
        self.shuffle = shuffle

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if not self.shuffle:
            return iter(range(n))
        seeds = np.random.SeedSequence([self.dataset.seed, self.dataset.epoch, _STREAM_ORDER])
        generator = torch.Generator().manual_seed(int(seeds.generate_state(1)[0]))
        return iter(torch.randperm(n, generator=generator).tolist())


def _init_worker(worker_id: int) -> None:
    # One thread each: the workers already share the cores with the training process.
    cv2.setNumThreads(0)
    torch.set_num_threads(1)


def build_loader(
    dataset: Dataset,
    imgsz: int,
    batch_size: int,
    augment: AugmentConfig | None,
    shuffle: bool,
    seed: int = 0,
    workers: int = 0,
) -> DataLoader:
    """A DataLoader of :class:`Batch` over ``dataset``.

    Call ``loader.dataset.set_epoch(k)`` before epoch k: it sets both the shuffling
    order and the augmentation. Workers are re-created each epoch (not persistent),
    so they see the epoch and mosaic settings of the parent.
    """
    data = DetectionDataset(dataset, imgsz, augment, seed=seed)
    return DataLoader(
        data,
        batch_size=batch_size,
        sampler=EpochSampler(data, shuffle),
        num_workers=workers,
        collate_fn=collate,
        worker_init_fn=_init_worker if workers > 0 else None,
    )
