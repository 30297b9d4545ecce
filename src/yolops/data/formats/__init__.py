"""Dataset file formats: detection, reading and writing.

Each format module offers ``detect(path) -> bool``, ``read(path, issues) ->
DatasetParts`` and ``write(dataset, out) -> Path``. Coordinates convert to the
canonical form (xyxy pixels) inside these modules and nowhere else. The writers share
:func:`~yolops.data.formats._write.prepare_output` (an empty target, writable ids)
and :func:`~yolops.data.formats._write.place_image`. Readers return the parts of a
dataset; :meth:`yolops.data.dataset.Dataset.load` puts them together.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from yolops.data.formats import coco, cvat, labelstudio, voc, yolo
from yolops.data.record import DatasetParts
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

FORMAT_NAMES = ("yolo", "coco", "voc", "labelstudio", "cvat")


_MODULES: dict[str, ModuleType] = {
    "yolo": yolo,
    "coco": coco,
    "voc": voc,
    "labelstudio": labelstudio,
    "cvat": cvat,
}


def _module(name: str) -> ModuleType:
    if name not in _MODULES:
        raise DatasetFormatError(
            f"unknown format {name!r}; choose one of {', '.join(FORMAT_NAMES)}"
        )
    return _MODULES[name]


def detect_format(path: str | Path) -> str:
    """The one format ``path`` holds; an error naming what was found otherwise."""
    path = Path(path)
    if not path.exists():
        raise DatasetFormatError(f"{path}: no such file or folder")
    found = [name for name in FORMAT_NAMES if _module(name).detect(path)]
    if not found:
        raise DatasetFormatError(
            f"{path}: holds no dataset yolops can read (expected a YOLO data YAML or a folder "
            "with one, a COCO JSON or a folder with annotations/*.json, a Pascal VOC folder "
            "with Annotations/*.xml, a Label Studio JSON export (a list of tasks) or a CVAT "
            "for images XML, or a folder with one)"
        )
    if len(found) > 1:
        raise DatasetFormatError(
            f"{path}: holds more than one dataset format ({', '.join(found)}); "
            "point at one of them or pass format= / --format"
        )
    return found[0]


def read(path: Path, format: str | None, issues: IssueLog) -> DatasetParts:
    """The parts of the dataset at ``path`` (format detected when None); problems go
    to ``issues``."""
    return _module(format or detect_format(path)).read(Path(path), issues)


def write(dataset: Dataset, out: Path, format: str) -> Path:
    """Write ``dataset`` (images copied, annotations converted) under ``out``."""
    return _module(format).write(dataset, Path(out))
