"""One image and its boxes in the canonical form, and what a format reader finds.

- boxes: float32 array (N, 4), xyxy, in pixels of the original image
- classes: int64 array (N,), indices into the dataset's class names
- attributes: optional per-box arrays of length N (``difficult``, ``truncated``, ``iscrowd``)

Readers (:mod:`yolops.data.formats`) build :class:`ImageRecord` s and return a
:class:`DatasetParts`; :class:`yolops.data.dataset.Dataset` puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image and its boxes. Arrays are read-only; use :meth:`replace` to change."""

    id: str
    path: Path
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    attributes: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        boxes = np.array(self.boxes, dtype=np.float32).reshape(-1, 4)
        classes = np.array(self.classes, dtype=np.int64).reshape(-1)
        if len(boxes) != len(classes):
            raise ValueError(f"image {self.id!r}: {len(boxes)} boxes but {len(classes)} class ids")
        attrs = {}
        for name, values in self.attributes.items():
            values = np.array(values).reshape(-1)
            if len(values) != len(boxes):
                raise ValueError(
                    f"image {self.id!r}: attribute {name!r} has {len(values)} values "
                    f"for {len(boxes)} boxes"
                )
            attrs[name] = _frozen(values)
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))
        object.__setattr__(self, "boxes", _frozen(boxes))
        object.__setattr__(self, "classes", _frozen(classes))
        object.__setattr__(self, "attributes", attrs)

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def num_boxes(self) -> int:
        return len(self.boxes)

    def replace(self, **changes) -> ImageRecord:
        return replace(self, **changes)

    def select(self, keep: np.ndarray) -> ImageRecord:
        """A copy with only the boxes where the boolean mask ``keep`` (N,) is true."""
        keep = np.asarray(keep, dtype=bool)
        return self.replace(
            boxes=self.boxes[keep],
            classes=self.classes[keep],
            attributes={k: v[keep] for k, v in self.attributes.items()},
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImageRecord):
            return NotImplemented
        return (
            self.id == other.id
            and self.path == other.path
            and (self.width, self.height) == (other.width, other.height)
            and np.array_equal(self.boxes, other.boxes)
            and np.array_equal(self.classes, other.classes)
            and self.attributes.keys() == other.attributes.keys()
            and all(np.array_equal(v, other.attributes[k]) for k, v in self.attributes.items())
        )


@dataclass(frozen=True)
class VersionInfo:
    """Which dataset version a dataset was loaded from: ``name@v<number>``, the digest
    of its contents (pixels, boxes, classes, splits) and each image's SHA-256."""

    dataset: str
    number: int
    digest: str
    blobs: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@v{self.number}"


@dataclass(frozen=True)
class DatasetParts:
    """What a format reader found: the records it could read, the class names in
    order, the splits (image ids per split), the dataset's name and root folder.
    What it could not read went to the :class:`~yolops.issues.IssueLog` it was given."""

    records: list[ImageRecord]
    class_names: tuple[str, ...]
    splits: dict[str, list[str]]
    name: str
    root: Path | None
    version: VersionInfo | None = None
