"""Dataset file formats: detection, reading and writing.

Each format module offers ``detect(path) -> bool``, ``read(path, issues) -> Dataset``
and ``write(dataset, out) -> Path``. Coordinates convert to the canonical form
(xyxy pixels) inside these modules and nowhere else. The writers share
:func:`prepare_output` (an empty target, writable ids) and :func:`place_image`.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from types import ModuleType

from yolops.data.dataset import SPLITS, Dataset
from yolops.data.images import is_image_name
from yolops.errors import DatasetFormatError, YolopsError
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
        raise DatasetFormatError(
            f"unknown format {name!r}; choose one of {', '.join(FORMAT_NAMES)}"
        )
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


# -- shared by the writers ------------------------------------------------------------


def prepare_output(dataset: Dataset, out: Path, format: str) -> Path:
    """Check that ``dataset`` can be written and make ``out``, which must be absent or
    empty: a reader given ``out`` later must find only what this write put there."""
    out = Path(out).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise YolopsError(
            f"{out}: exists and is not an empty folder; write into a new or empty folder"
        )
    extra = [s for s in dataset.splits if s not in SPLITS]
    if extra:
        raise YolopsError(
            f"dataset {dataset.name!r}: {format} stores only the splits {', '.join(SPLITS)}, "
            f"not {', '.join(extra)}"
        )
    for record in dataset:
        p = PurePosixPath(record.id)
        if not record.id or p.is_absolute() or ".." in p.parts or "\\" in record.id:
            raise YolopsError(
                f"dataset {dataset.name!r}: image id {record.id!r} is not a relative file name "
                "and cannot be written"
            )
        if not is_image_name(record.path):
            raise YolopsError(
                f"dataset {dataset.name!r}: image {record.id!r} is {record.path}, which has no "
                "image file suffix; readers would not find it"
            )
    out.mkdir(parents=True, exist_ok=True)
    return out


def place_image(src: Path, dst: Path) -> None:
    """Copy the image ``src`` to ``dst``, keeping its times. A copy, not a hard link:
    a tool that later rewrites an output image in place must not change the source."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy2(src, dst)
    except OSError as e:
        raise YolopsError(f"{src}: cannot copy image to {dst}: {e.strerror}") from None
