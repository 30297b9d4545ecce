"""Dataset file formats: detection, reading and writing.

Each format module offers ``detect(path) -> bool``, ``read(path, issues) -> Dataset``
and ``write(dataset, out) -> Path``. Coordinates convert to the canonical form
(xyxy pixels) inside these modules and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from yolops.data.dataset import Dataset
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog, Severity

FORMAT_NAMES = ("yolo", "coco", "voc")


def _module(name: str) -> ModuleType:
    if name == "yolo":
        from yolops.data.formats import yolo as m
    elif name == "coco":
        from yolops.data.formats import coco as m
    elif name == "voc":
        from yolops.data.formats import voc as m
    else:
        raise DatasetFormatError(f"unknown format {name!r}; choose one of {', '.join(FORMAT_NAMES)}")
    return m


def detect_format(path: str | Path) -> str:
    """The one format ``path`` holds; an error naming what was found otherwise."""
    path = Path(path)
    if not path.exists():
        raise DatasetFormatError(f"{path}: no such file or folder")
    found = [name for name in FORMAT_NAMES if _module(name).detect(path)]
    if not found:
        raise DatasetFormatError(
            f"{path}: holds no dataset yolops can read (expected a YOLO data YAML or a folder "
            "with one, a COCO JSON or a folder with annotations/*.json, or a Pascal VOC folder "
            "with Annotations/*.xml)"
        )
    if len(found) > 1:
        raise DatasetFormatError(
            f"{path}: holds more than one dataset format ({', '.join(found)}); "
            "point at one of them or pass format= / --format"
        )
    return found[0]


def load_dataset(path: str | Path, format: str | None = None, strict: bool = False) -> Dataset:
    """Read a dataset. Problems go to ``dataset.issues``; ``strict`` raises on any
    warning or error with the whole list instead."""
    path = Path(path)
    fmt = format or detect_format(path)
    issues = IssueLog()
    dataset = _module(fmt).read(path, issues)
    if strict:
        issues.raise_if_any(Severity.WARNING, what=str(path))
    return dataset


def save_dataset(dataset: Dataset, out: str | Path, format: str) -> Path:
    """Write ``dataset`` (images copied, annotations converted) under ``out``."""
    return _module(format).write(dataset, Path(out))
