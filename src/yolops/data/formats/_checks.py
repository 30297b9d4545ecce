"""Validation shared by the format readers: boxes, images and paths.

Readers call these per record; a problem is logged as an issue and the box is set
aside (never clipped or repaired), so the load report lists everything not loaded.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from yolops.data.images import ImageInfo, probe_image
from yolops.errors import ImageReadError
from yolops.issues import IssueLog, Severity

# A box may cross the image border by this much (pixels) without a warning: writing
# normalised or decimal coordinates and reading them back moves a border-touching
# edge by ~1e-6 px, which is rounding, not a labelling problem. The box is kept as is.
BORDER_TOLERANCE = 1e-3


def check_box(
    box: tuple[float, float, float, float],
    width: int,
    height: int,
    issues: IssueLog,
    path: str,
    location: str,
    image_id: str | None = None,
) -> bool:
    """Check one xyxy pixel box against its image; log problems. True when it loads.

    Set aside (error): non-finite values, x2 < x1 or y2 < y1, zero area, a box
    wholly outside the image. Kept (warning): a box that crosses the image border
    by more than ``BORDER_TOLERANCE`` pixels.
    """
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        issues.add(
            "box_nonfinite",
            Severity.ERROR,
            f"box {list(box)} has a non-finite value",
            path,
            location,
            image_id,
        )
        return False
    if x2 < x1 or y2 < y1:
        issues.add(
            "box_inverted",
            Severity.ERROR,
            f"box {_fmt(box)} has x2 < x1 or y2 < y1",
            path,
            location,
            image_id,
        )
        return False
    if x2 == x1 or y2 == y1:
        issues.add(
            "box_zero_area",
            Severity.ERROR,
            f"box {_fmt(box)} has zero area",
            path,
            location,
            image_id,
        )
        return False
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        issues.add(
            "box_outside_image",
            Severity.ERROR,
            f"box {_fmt(box)} lies wholly outside the {width}x{height} image",
            path,
            location,
            image_id,
        )
        return False
    tol = BORDER_TOLERANCE
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        issues.add(
            "box_out_of_bounds",
            Severity.WARNING,
            f"box {_fmt(box)} crosses the border of the {width}x{height} image (kept as is)",
            path,
            location,
            image_id,
        )
    return True


def as_stored(box: tuple[float, ...]) -> tuple[float, float, float, float]:
    """The box rounded to float32, as ``ImageRecord`` will store it; checking this
    rather than the float64 value means what passes the checks is what is kept."""
    return tuple(np.asarray(box, np.float32).tolist())


def probe_or_log(
    image: Path,
    issues: IssueLog,
    path: str,
    image_id: str | None,
    consequence: str = "image set aside",
) -> ImageInfo | None:
    """The image's header info, or None after logging why it cannot be read (error)."""
    try:
        return probe_image(image)
    except ImageReadError as e:
        issues.add(e.code, Severity.ERROR, f"{e.reason}; {consequence}", path, None, image_id)
        return None


def _fmt(box) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it stays inside ``root``; None when it escapes."""
    # Lexical check (no symlink resolution): a dataset may link its images folder
    # elsewhere on purpose, but "../" or an absolute path in a label is an escape.
    root = Path(os.path.normpath(os.path.abspath(root)))
    candidate = Path(os.path.normpath(os.path.join(root, relative)))
    if candidate == root or root in candidate.parents:
        return candidate
    return None


def relative_name(path: Path, root: Path) -> str:
    """``path`` as a posix string relative to ``root`` when inside it, else as given;
    issues name files this way so that reports read the same on every machine."""
    # String operations: this runs for every image, and pathlib is slow at it.
    full, base = os.path.abspath(path), os.path.abspath(root)
    if full == base:
        return "."
    prefix = base.rstrip(os.sep) + os.sep
    if full.startswith(prefix):
        return full[len(prefix) :].replace(os.sep, "/")
    return str(path)
