"""Image files: cheap header probing, truncation checks and decoding.

Probing reads the header (and the last bytes, to catch truncated JPEG/PNG files)
without decoding pixels, so loading a dataset stays fast.

Sizes are those of the image as shown, EXIF orientation applied: every decoder here
(OpenCV for training, evaluation and prediction, PIL with ``exif_transpose`` in the
server) turns the pixels upright, and annotation tools (LabelImg, CVAT, Label Studio)
draw boxes on the upright image, so boxes and sizes are in that frame everywhere.
:class:`ImageInfo` keeps the stored size and the orientation too, so that a reader can
say when an annotation's size is the stored one (orientation explains the mismatch).

:func:`check_jpeg_data` finds a JPEG whose compressed data ends before the image does
but that still ends with an end-of-image marker (a cut file with the marker
re-appended): decoders fill the rest with grey and only print a warning.

For inference, :func:`decode_for_model` decodes a JPEG at 1/2, 1/4 or 1/8 scale
(libjpeg's DCT scaling) when a model of input size ``imgsz`` could not use the full
resolution anyway: several times faster than a full decode plus a downscale.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import threading
import warnings
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
_JPEG_MAGIC = b"\xff\xd8\xff"
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageInfo:
    """An image file's header: ``width`` and ``height`` as shown (EXIF orientation
    applied, as every decoder here applies it), ``stored`` the size as stored before
    that, ``orientation`` the EXIF orientation (1 = none; 5 to 8 swap the axes)."""

    width: int
    height: int
    format: str  # "JPEG", "PNG", ...
    mode: str  # PIL mode: "RGB", "L", "RGBA", ...
    stored: tuple[int, int] | None = None  # (width, height) before orientation; None: same
    orientation: int = 1

    @property
    def stored_size(self) -> tuple[int, int]:
        return self.stored or (self.width, self.height)

    @property
    def rotated(self) -> bool:
        """Whether EXIF orientation changes the size as shown (swaps the axes)."""
        return self.stored_size != (self.width, self.height)


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


# PIL's own decompression-bomb check warns above Image.MAX_IMAGE_PIXELS and raises
# above twice that, naming neither the file nor our limit; opening a header under this
# lock turns both into an ImageReadError (warnings filters are process-wide, hence the lock).
_OPEN_LOCK = threading.Lock()
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def open_image(source: Path | io.BytesIO, name: str | Path) -> Image.Image:
    """``Image.open`` (the header only) with PIL's decompression-bomb warning and error
    turned into :class:`ImageReadError` (``image_too_large``) naming ``name`` and our
    limit, and unreadable data into ``image_unreadable``."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        found = _BOMB_PIXELS.search(str(e))
        pixels = f"{int(found.group(1))} pixels" if found else "more pixels than the limit"
        raise ImageReadError(
            name,
            "image_too_large",
            f"image declares {pixels}; the limit is {MAX_PIXELS} "
            f"({_side(MAX_PIXELS)}x{_side(MAX_PIXELS)}); not decoded",
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        reason = "is not a readable image" if isinstance(e, UnidentifiedImageError) else str(e)
        raise ImageReadError(name, "image_unreadable", f"file {reason}") from None


def _side(pixels: int) -> int:
    return math.isqrt(pixels)


def shown_size(im: Image.Image) -> tuple[tuple[int, int], int]:
    """((width, height) as decoders show the image, EXIF orientation) of an opened PIL
    image, from its header. PIL's TIFF reader applies the orientation itself (its size
    is already as shown); for the others, orientations 5 to 8 swap the axes."""
    try:
        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (OSError, ValueError, TypeError, SyntaxError):
        orientation = 1  # unreadable EXIF: decoders ignore it too
    if orientation not in range(1, 9):
        orientation = 1
    width, height = im.size
    if im.format != "TIFF" and orientation in (5, 6, 7, 8):
        width, height = height, width
    return (width, height), orientation


def probe_image(path: Path | str) -> ImageInfo:
    """Size (as shown, see :class:`ImageInfo`) and format from the header; raises
    :class:`ImageReadError`."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "image_missing", "image file does not exist")
    try:
        with open_image(path, path) as im:
            (width, height), orientation = shown_size(im)
            stored = im.size if im.format != "TIFF" else (width, height)
            info = ImageInfo(
                width,
                height,
                im.format or "?",
                im.mode,
                stored if stored != (width, height) else None,
                orientation,
            )
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageReadError(path, "image_unreadable", f"file {e}") from None
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


# -- JPEG data cut short ----------------------------------------------------------------

# Filler bytes (fixed, no 0xFF so that none reads as a marker) put before a JPEG's final
# end marker: a complete file never reads them (its data ends before), a cut one decodes
# its missing blocks from them instead of from the decoder's zero bits, so its pixels
# change. Random-looking, long: a short or regular filler can decode as zero bits do.
_FILLER = bytes(b % 255 for i in range(128) for b in hashlib.sha256(str(i).encode()).digest())


def jpeg_data_complete(data: bytes, scale: int = 1) -> bool | None:
    """Whether a JPEG's compressed data covers the whole image: False for a file cut
    short whose end marker was re-appended (libjpeg fills the rest with grey and only
    prints "Corrupt JPEG data: premature end of data segment"); None when ``data`` is no
    JPEG with an end marker, or PIL cannot decode it (its own decode then names why).

    Two full decodes with PIL (which keeps libjpeg's warnings quiet): the data as it
    is and with filler before its end marker; the pixels differ only when the decoder
    ran out of data. ``scale`` > 1 compares decodes at 1/scale (DCT scaling): what
    a consumer of the reduced pixels would see; it misses cuts that only lose detail
    finer than that scale shows, so checks of the data itself use 1."""
    if not data.startswith(_JPEG_MAGIC):
        return None
    end = data.rfind(b"\xff\xd9")
    if end < 0:
        return None
    cut = end
    while cut > 0 and data[cut - 1] == 0xFF:  # fill bytes belong to the marker
        cut -= 1
    try:
        whole = _pixels_digest(data, scale)
        padded = _pixels_digest(data[:cut] + _FILLER + data[cut:], scale)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return whole == padded


def _pixels_digest(data: bytes, scale: int = 1) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        if scale > 1:
            im.draft(im.mode, (im.width // scale, im.height // scale))
        im.load()
        digest = hashlib.blake2b(digest_size=16)
        band = 256  # rows at a time: never a second full copy of a large image
        for top in range(0, im.height, band):
            digest.update(im.crop((0, top, im.width, min(im.height, top + band))).tobytes())
        return digest.digest()


def check_jpeg_data(data: bytes, source: str | Path, scale: int = 1) -> None:
    """Raise :class:`ImageReadError` (``image_truncated``) naming ``source`` when
    :func:`jpeg_data_complete` says the JPEG's data ends before the image does."""
    if jpeg_data_complete(data, scale) is False:
        raise ImageReadError(
            source,
            "image_truncated",
            "JPEG data ends before the image does (premature end of data segment; an "
            "end-of-image marker follows the cut): the rest would decode as grey",
        )


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
        with open_image(io.BytesIO(data), "<bytes>") as im:
            if im.format != "JPEG":
                return None
            return shown_size(im)[0]
    except (ImageReadError, OSError, ValueError, SyntaxError):
        return None  # the full decode decides, and names the problem


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
