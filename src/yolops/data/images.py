"""Image files: cheap header probing, truncation checks and decoding.

Probing reads the header (and the last bytes, to catch truncated JPEG/PNG files)
without decoding pixels, so loading a dataset stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from yolops.errors import YolopsError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Decoding a crafted file can allocate gigabytes; refuse anything larger (pixels).
MAX_PIXELS = 16_384 * 16_384
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageReadError(YolopsError):
    """An image file is missing, not an image, truncated or cannot be decoded."""

    def __init__(self, path: Path | str, code: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.code = code
        self.reason = message


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # "JPEG", "PNG", ...
    mode: str  # PIL mode: "RGB", "L", "RGBA", ...


def is_image_name(path: Path | str) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _check_tail(path: Path, fmt: str) -> None:
    """Truncated JPEG/PNG files lack their end marker; look at the last bytes only."""
    if fmt not in ("JPEG", "PNG"):
        return
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 32))
        tail = f.read()
    if fmt == "JPEG" and b"\xff\xd9" not in tail:
        raise ImageReadError(path, "image_truncated", "JPEG file is truncated (no end-of-image marker)")
    if fmt == "PNG" and b"IEND" not in tail:
        raise ImageReadError(path, "image_truncated", "PNG file is truncated (no IEND chunk)")


def probe_image(path: Path | str) -> ImageInfo:
    """Size and format from the header; raises :class:`ImageReadError`."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "image_missing", "image file does not exist")
    try:
        with Image.open(path) as im:
            info = ImageInfo(im.width, im.height, im.format or "?", im.mode)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        reason = "is not a readable image" if isinstance(e, UnidentifiedImageError) else str(e)
        raise ImageReadError(path, "image_unreadable", f"file {reason}") from None
    if info.width <= 0 or info.height <= 0:
        raise ImageReadError(path, "image_unreadable", f"image has size {info.width}x{info.height}")
    if info.width * info.height > MAX_PIXELS:
        raise ImageReadError(
            path, "image_too_large", f"image has {info.width}x{info.height} pixels (limit {MAX_PIXELS})"
        )
    _check_tail(path, info.format)
    return info


def decode_image(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode encoded bytes to an RGB uint8 array (H, W, 3)."""
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if len(buf) else None
    if img is None:
        raise ImageReadError(source, "image_unreadable", "cannot be decoded as an image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_image(path: Path | str) -> np.ndarray:
    """Decode an image file to an RGB uint8 array (H, W, 3)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageReadError(path, "image_missing", f"cannot read file: {e.strerror}") from None
    return decode_image(data, str(path))
