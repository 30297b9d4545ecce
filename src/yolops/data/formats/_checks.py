"""Validation shared by the format readers: boxes, images, paths, text and JSON.

Readers call these per record; a problem is logged as an issue and the box is set
aside (never clipped or repaired), so the load report lists everything not loaded.

Paths: nothing outside the dataset root is read, symbolic links included: a path
counts as inside when both its spelling ("../" refused) and its real path (links
followed) are inside the root's real path (:func:`resolve_inside`,
:func:`walk_images`).
"""

from __future__ import annotations

import json
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
            f"box {list(box)} has a non-finite value (or one beyond float32's range, 3.4e38)",
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
    with np.errstate(over="ignore"):  # beyond float32: inf, which check_box reports
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
    """``root / relative`` when it stays inside ``root``; None when it escapes, by its
    spelling ("../", an absolute path) or through a symbolic link whose target is
    outside the root's real path (a link inside the root to a file inside it is fine).
    The path returned is as spelt (links not resolved), so that ids and names keep
    the dataset's own layout."""
    root = Path(os.path.normpath(os.path.abspath(root)))
    candidate = Path(os.path.normpath(os.path.join(root, relative)))
    if not (candidate == root or root in candidate.parents):
        return None
    return candidate if real_inside(candidate, root) else None


def real_inside(path: Path | str, root: Path | str) -> bool:
    """Whether ``path``'s real path (every symbolic link followed, as far as it
    exists) is ``root``'s real path or inside it."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def link_escape(path: Path, root: Path) -> str | None:
    """A message when ``path`` (spelt inside ``root``) leads outside the root through
    a symbolic link; None when it stays inside."""
    if real_inside(path, root):
        return None
    return (
        f"is a symbolic link (or inside one) to {os.path.realpath(path)}, outside the "
        f"dataset root {os.path.realpath(root)}; yolops reads nothing outside the root"
    )


def walk_images(
    folder: Path,
    root: Path,
    issues: IssueLog,
    is_wanted,
    what: str = "file",
) -> list[Path]:
    """Files under ``folder`` (recursively) for which ``is_wanted(name)`` holds, as
    spelt under ``folder``. Linked folders and files are followed while their real
    path stays inside ``root``; one leading outside is an error issue
    (``path_escapes_root``) naming it, and a folder reached twice (a link loop or a
    second link to it) is walked once, the other noted (``folder_linked_twice``)."""
    found: list[Path] = []
    seen: dict[str, Path] = {}
    stack = [Path(folder)]
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen:
            issues.add(
                "folder_linked_twice",
                Severity.INFO,
                f"folder is {relative_name(seen[real], root)} again (a symbolic link); "
                "its files are read once",
                relative_name(current, root),
            )
            continue
        seen[real] = current
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as e:
            issues.add(
                "folder_unreadable",
                Severity.ERROR,
                f"cannot list the folder: {e.strerror}; its files are not read",
                relative_name(current, root),
            )
            continue
        folders = []
        for entry in entries:
            path = Path(current, entry.name)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                is_dir = False
            if not is_dir and not is_wanted(entry.name):
                continue
            if entry.is_symlink() and (escape := link_escape(path, root)) is not None:
                issues.add(
                    "path_escapes_root",
                    Severity.ERROR,
                    f"{'folder' if is_dir else what} {escape}; not read",
                    relative_name(path, root),
                )
                continue
            if is_dir:
                folders.append(path)
            else:
                found.append(path)
        stack.extend(reversed(folders))
    return found


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


# -- text and JSON ------------------------------------------------------------------------


def text_lines(data: bytes) -> list[tuple[int, str | None]]:
    """(line number, text) per line of a text file's bytes, UTF-8 (a leading BOM
    dropped); the text is None for a line that is not UTF-8, so that a reader can
    report that line by number and still read the others."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    out: list[tuple[int, str | None]] = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            out.append((n, raw.decode("utf-8")))
        except UnicodeDecodeError:
            out.append((n, None))
    return out


def not_utf8(line: int) -> str:
    return f"line {line} is not UTF-8 text; not read"


# JSON integers longer than this cannot be a float (10**309 overflows) and Python
# refuses to parse those over 4300 digits at all: they load as +-inf, so that the
# record holding one is reported (a non-finite value) rather than the whole file failing.
_INT_DIGITS = 300


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= _INT_DIGITS else float(text)


def parse_json(text: str):
    """``json.loads`` that never fails on a number: integers too large for a float
    load as +-inf (see ``_INT_DIGITS``); syntax errors raise json.JSONDecodeError."""
    return json.loads(text, parse_int=_parse_int)


def stated_size_issue(
    said: tuple[object, object],
    info: ImageInfo,
    who: str,
    issues: IssueLog,
    path: str,
    location: str | None,
    image_id: str | None,
) -> None:
    """Log ``size_mismatch`` (warning) when an annotation file's image size ``said``
    (width, height; numbers or their text) is not the image file's size as shown. When
    it is the size as stored and EXIF orientation turns the image, the message says so:
    yolops reads boxes on the image as shown, as annotation tools draw them."""
    if said == (None, None) or _same(said, (info.width, info.height)):
        return
    message = (
        f"{who} says {said[0]}x{said[1]} but the image file is {info.width}x{info.height}; "
        "using the file's size"
    )
    if info.rotated and _same(said, info.stored_size):
        message = (
            f"{who} says {said[0]}x{said[1]}, the image file's size as stored, but its EXIF "
            f"orientation ({info.orientation}) turns it to {info.width}x{info.height} as "
            "shown; boxes are read on the image as shown (as LabelImg, CVAT and Label "
            "Studio draw them): check that these were not drawn on the unturned image"
        )
    issues.add("size_mismatch", Severity.WARNING, message, path, location, image_id)


def _same(said: tuple[object, object], size: tuple[int, int]) -> bool:
    return all(_equal(v, n) for v, n in zip(said, size))


def _equal(value: object, n: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return value == n
    return str(value).strip() == str(n)
