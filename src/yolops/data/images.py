"""Image files: cheap header probing, truncation checks and decoding.

Probing reads the header (and the last bytes, to catch truncated JPEG/PNG files)
without decoding pixels, so loading a dataset stays fast.

For inference, :func:`decode_for_model` decodes a JPEG at 1/2, 1/4 or 1/8 scale
(libjpeg's DCT scaling) when a model of input size ``imgsz`` could not use the full
resolution anyway: several times faster than a full decode plus a downscale.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from yolops.errors import ImageReadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Decoding a crafted file can allocate gigabytes; refuse anything larger (pixels).
MAX_PIXELS = 16_384 * 16_384
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


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
        raise ImageReadError(
            path, "image_truncated", "JPEG file is truncated (no end-of-image marker)"
        )
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
            path,
            "image_too_large",
            f"image has {info.width}x{info.height} pixels (limit {MAX_PIXELS})",
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


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageReadError(path, "image_missing", f"cannot read file: {e.strerror}") from None


def read_image(path: Path | str) -> np.ndarray:
    """Decode an image file to an RGB uint8 array (H, W, 3)."""
    path = Path(path)
    return decode_image(_read_bytes(path), str(path))


# -- reduced decoding for inference ------------------------------------------------

_REDUCED_FLAGS = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_JPEG_MAGIC = b"\xff\xd8\xff"
_EXIF_ORIENTATION = 0x0112


def reduction_factor(width: int, height: int, imgsz: int) -> int:
    """The largest f in (8, 4, 2) whose reduced image (libjpeg: ceil(side / f)) keeps its
    longer side >= ``imgsz`` and its shorter side >= 1 whole block of f pixels; else 1.

    A model letterboxes to ``imgsz`` anyway, so such an image loses nothing a full
    decode plus downscale would keep, and is never upsampled where it would not be.
    """
    longer, shorter = max(width, height), min(width, height)
    for f in (8, 4, 2):
        if math.ceil(longer / f) >= imgsz and shorter >= f:
            return f
    return 1


def jpeg_oriented_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of JPEG bytes as decoders show them, EXIF orientation applied
    (5 to 8 swap the axes), from the header only; None when ``data`` is no JPEG."""
    if not data.startswith(_JPEG_MAGIC):
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                return None
            width, height = im.size
            orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        return None  # the full decode decides, and names the problem
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def decode_for_model(
    data: bytes, imgsz: int, source: str = "<bytes>"
) -> tuple[np.ndarray, tuple[int, int]]:
    """RGB uint8 pixels for a model of input size ``imgsz``, and the ORIGINAL
    (width, height) a full :func:`decode_image` would give.

    A JPEG is decoded at 1/f scale (f from :func:`reduction_factor`, 1 to 8) with
    EXIF orientation applied, as the full decode does; anything else, or f = 1, is
    decoded in full. Boxes found on the pixels map back to the original by
    (width / pixels width, height / pixels height).
    """
    size = jpeg_oriented_size(data)
    factor = reduction_factor(size[0], size[1], imgsz) if size else 1
    if factor == 1:
        image = decode_image(data, source)
        return image, (image.shape[1], image.shape[0])
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_FLAGS[factor])
    if bgr is None:
        raise ImageReadError(source, "image_unreadable", "cannot be decoded as an image")
    expected = (math.ceil(size[1] / factor), math.ceil(size[0] / factor))
    if bgr.shape[:2] != expected:
        # The header said otherwise than the decoder (an odd EXIF): trust a full decode.
        image = decode_image(data, source)
        return image, (image.shape[1], image.shape[0])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size


def read_image_for_model(path: Path | str, imgsz: int) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`decode_for_model` of an image file."""
    path = Path(path)
    return decode_for_model(_read_bytes(path), imgsz, str(path))
