"""Records from what a reader collected per image, shared by the readers whose boxes
carry named attributes (COCO's ``iscrowd``, CVAT's ``occluded`` and ``<attribute>``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from yolops.data.record import ImageRecord


class CollectedImage(Protocol):
    """One image as a reader collected it: its record fields, and per box a pixel
    box, a class id and a dict of attributes."""

    id: str
    path: Path
    width: int
    height: int
    boxes: list
    classes: list
    attributes: list[dict]


def uniform_records(
    images: Sequence[CollectedImage], always: Iterable[str] = ()
) -> list[ImageRecord]:
    """One record per image, every record with every attribute any box has (``always``
    first), so that a dataset's boxes are uniform; a box without a value gets 0."""
    names = dict.fromkeys(always)
    for image in images:
        for attributes in image.attributes:
            names.update(dict.fromkeys(attributes))
    return [
        ImageRecord(
            image.id,
            image.path,
            image.width,
            image.height,
            np.array(image.boxes, np.float32).reshape(-1, 4),
            np.array(image.classes, np.int64),
            {a: np.array([d.get(a, 0) for d in image.attributes]) for a in names},
        )
        for image in images
    ]
