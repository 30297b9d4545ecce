"""Validation shared by the format readers: boxes, class ids and paths.

Readers call these per record; a problem is logged as an issue and the box is set
aside (never clipped or repaired), so the load report lists everything not loaded.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from yolops.issues import IssueLog, Severity


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
    wholly outside the image. Kept (warning): a box that crosses the image border.
    """
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        issues.add("box_nonfinite", Severity.ERROR, f"box {list(box)} has a non-finite value", path, location, image_id)
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
        issues.add("box_zero_area", Severity.ERROR, f"box {_fmt(box)} has zero area", path, location, image_id)
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
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        issues.add(
            "box_out_of_bounds",
            Severity.WARNING,
            f"box {_fmt(box)} crosses the border of the {width}x{height} image (kept as is)",
            path,
            location,
            image_id,
        )
    return True


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
