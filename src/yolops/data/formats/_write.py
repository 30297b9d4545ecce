"""What the format writers share: an output folder that may be written, and image copies."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from yolops.data.images import is_image_name
from yolops.data.record import SPLITS
from yolops.errors import YolopsError

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset


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
