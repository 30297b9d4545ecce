"""Image-level quality: statistics per image, a perceptual hash, and the checks on them.

:func:`image_stats` is the one place image statistics are computed; the dataset
checks here, drift (:mod:`yolops.quality.drift`) and live monitoring all call it,
so a number means the same thing everywhere. Statistics are measured on the image
resized so that its longer side is ``WORK_SIDE`` pixels: sharpness (variance of the
Laplacian) depends on scale, and a fixed working size makes it comparable across
image sizes, and cheap.

We compute these ourselves with OpenCV by default. cleanvision is the other
checker (:func:`cleanvision_issues`, ``QualityConfig(image_checker="cleanvision")``),
its findings mapped to the same issue codes; it is not the default because
validation with it took 3.4-5.2 s on BCCD against 0.5-0.9 s (364 images, 2 cores): it
decodes every image a second time (drift needs our statistics anyway); and with its
default thresholds it missed the over-exposed and blurred images planted in
generated data that these checks find (tests/quality/test_images.py measures both).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.formats._checks import relative_name
from yolops.data.images import ImageInfo, check_jpeg_data, decode_image, probe_image
from yolops.errors import ImageReadError
from yolops.issues import Issue, Severity

WORK_SIDE = 256  # pixels: the longer side of the image statistics are measured on
# Scanning holds at most this many decoded pixels at once across its threads (an image
# larger than this alone is decoded on its own): memory is bounded by pixels in flight,
# not by images, so two huge images are never decoded at the same time.
PIXELS_IN_FLIGHT = 64 * 1024 * 1024
# Images with more pixels than this are scanned from a smaller copy (longer side
# REDUCED_SIDE): the statistics are measured at WORK_SIDE and the hash at 32 px, so
# nothing is lost; a JPEG is then decoded at 1/2 to 1/8 scale (libjpeg's DCT scaling).
REDUCE_ABOVE = 4096 * 4096
REDUCED_SIDE = 4 * WORK_SIDE
HASH_SIDE = 32  # pixels: pHash works on a 32x32 grey image and keeps 8x8 DCT terms
STAT_NAMES = (
    "width",  # px, of the image given
    "height",  # px
    "aspect",  # width / height
    "brightness",  # mean luma, 0 (black) .. 1 (white)
    "contrast",  # standard deviation of luma, 0 .. 0.5
    "sharpness",  # variance of the Laplacian of luma (0..255 scale) at WORK_SIDE
    "entropy",  # Shannon entropy of the 256-bin luma histogram, bits, 0 .. 8
    "colorfulness",  # mean over pixels of (max - min channel) / 255, 0 (grey) .. 1
)


def image_stats(image: np.ndarray) -> dict[str, float]:
    """Statistics of one image: a dict keyed by :data:`STAT_NAMES`.

    ``image`` is uint8, RGB (H, W, 3) or grey (H, W). Width, height and aspect are
    those of the array given; the rest are measured at ``WORK_SIDE``.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) == 0:
        raise ValueError(
            "image_stats expects a non-empty uint8 (H, W[, 3]) image, "
            f"got {image.dtype} {image.shape}"
        )
    height, width = image.shape[:2]
    small = _work_size(image)
    # OpenCV rather than numpy reductions over the channel axis: ~10x faster here.
    if small.ndim == 3:
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        r, g, b = cv2.split(small)
        spread = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
        colorfulness = cv2.mean(spread)[0] / 255
    else:
        grey, colorfulness = small, 0.0
    mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(grey))
    hist = np.bincount(grey.reshape(-1), minlength=256) / grey.size
    p = hist[hist > 0]
    return {
        "width": float(width),
        "height": float(height),
        "aspect": width / height,
        "brightness": mean / 255,
        "contrast": std / 255,
        "sharpness": float(cv2.Laplacian(grey, cv2.CV_32F).var()),
        "entropy": max(0.0, float(-(p * np.log2(p)).sum())),  # max: no -0.0
        "colorfulness": colorfulness,
    }


def perceptual_hash(image: np.ndarray) -> int:
    """A 64-bit pHash: the signs of the 8x8 lowest DCT terms of the 32x32 grey image
    against their median. Near-identical images (re-encoded, resized, re-toned) differ
    in a few bits; unrelated ones in about 32."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small.astype(np.float32))[:8, :8].reshape(-1)
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences between uint64 hashes, broadcasting (e.g. (N, 1) x (1, M) -> (N, M))."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def _work_size(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = WORK_SIDE / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# -- scanning a dataset ---------------------------------------------------------------


@dataclass(frozen=True)
class ImageScan:
    """What one full read of an image file tells: its content hash (sha256 of the
    bytes), perceptual hash, statistics, header format and PIL mode. ``error`` is
    ``(code, message)`` when the file cannot be read or fully decoded; the other
    fields are then empty."""

    image_id: str
    sha256: str | None = None
    phash: int | None = None
    stats: Mapping[str, float] = field(default_factory=dict)
    format: str | None = None
    mode: str | None = None
    error: tuple[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def scan_image(record: ImageRecord, budget: PixelBudget | None = None) -> ImageScan:
    """Read, fully decode and measure one record's image file. A JPEG whose data ends
    before the image does (cut, its end marker re-appended) is an error here
    (``image_truncated``), not an image with a grey bottom. ``budget`` bounds the
    decoded pixels held at once across threads (see :data:`PIXELS_IN_FLIGHT`)."""
    try:
        info = probe_image(record.path)  # header, and the end marker of JPEG/PNG files
        data = record.path.read_bytes()
        with (budget or PixelBudget()).hold(info.width * info.height):
            if info.format == "JPEG":
                check_jpeg_data(data, record.path)
            image = _decode_for_scan(data, info, str(record.path))
    except ImageReadError as e:
        return ImageScan(record.id, error=(e.code, e.reason))
    except OSError as e:
        return ImageScan(record.id, error=("image_missing", f"cannot read file: {e.strerror}"))
    stats = image_stats(image)
    if image.shape[:2] != (info.height, info.width):  # measured on a reduced copy
        stats.update(width=float(info.width), height=float(info.height))
        stats["aspect"] = info.width / info.height
    return ImageScan(
        record.id,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=perceptual_hash(image),
        stats=stats,
        format=info.format,
        mode=info.mode,
    )


def _decode_for_scan(data: bytes, info: ImageInfo, source: str) -> np.ndarray:
    """RGB pixels for the statistics: the image itself, or for one over
    :data:`REDUCE_ABOVE` pixels a copy whose longer side is about
    :data:`REDUCED_SIDE` (a JPEG decoded reduced, anything else resized right after
    decoding, before the colour conversion copies it)."""
    if info.width * info.height <= REDUCE_ABOVE:
        return decode_image(data, source)
    longer = max(info.width, info.height)
    flags = cv2.IMREAD_COLOR
    if info.format == "JPEG":
        factor = next((f for f in (8, 4, 2) if longer / f >= REDUCED_SIDE), 1)
        flags = _REDUCED.get(factor, cv2.IMREAD_COLOR)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if bgr is None:
        raise ImageReadError(source, "image_unreadable", "cannot be decoded as an image")
    scale = REDUCED_SIDE / max(bgr.shape[:2])
    if scale < 1:
        size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_REDUCED = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


class PixelBudget:
    """At most ``limit`` decoded pixels held at once by the threads sharing it; a
    request over the limit waits until nothing else is held, then runs alone."""

    def __init__(self, limit: int = PIXELS_IN_FLIGHT):
        self.limit = limit
        self.held = 0
        self._free = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = max(0, min(int(pixels), self.limit))
        with self._free:
            self._free.wait_for(lambda: self.held == 0 or self.held + pixels <= self.limit)
            self.held += pixels
        try:
            yield
        finally:
            with self._free:
                self.held -= pixels
                self._free.notify_all()


def scan_images(
    ds: Dataset | Iterable[ImageRecord],
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
) -> dict[str, ImageScan]:
    """:func:`scan_image` over every record, keyed by image id, in dataset order.
    OpenCV decodes outside the GIL, so threads give real parallelism here; the threads
    share one :class:`PixelBudget`, so memory stays bounded whatever the image sizes.
    ``progress(1)`` is called as each image is done (e.g.
    :meth:`yolops.progress.Progress.advance`)."""
    records = list(ds)
    budget = PixelBudget()
    done = progress or (lambda n: None)
    scans = []
    if workers <= 1:
        for r in records:
            scans.append(scan_image(r, budget))
            done(1)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for scan in pool.map(lambda r: scan_image(r, budget), records, chunksize=8):
                scans.append(scan)
                done(1)
    return {s.image_id: s for s in scans}


# -- checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageCheckConfig:
    """Thresholds of the image checks. ``*_ratio`` thresholds are relative to the
    dataset's median, so they adapt to the domain (microscopy is smooth and bright,
    night traffic dark); the absolute ones catch what is bad anywhere.

    - dark: brightness < max(dark_brightness, dark_ratio x median brightness)
    - bright: brightness > min(bright_brightness, 1 - bright_ratio x (1 - median))
      (the distance to white shrunk to ``bright_ratio`` of the median's)
    - blurry: sharpness < max(blur_sharpness, blur_ratio x median sharpness)
    - low information: entropy < low_entropy bits
    - odd aspect: aspect / median aspect outside [1 / aspect_factor, aspect_factor]
    - odd size: pixels / median pixels outside [1 / size_factor, size_factor], or a
      side < min_side
    - grayscale: colorfulness < grey_colorfulness, reported only when most images
      have colour (in a grey dataset it is the norm, not a problem)

    One cause per image: a dark or bright image is not also called low in
    information, blurry or grey, nor a low-information one blurry or grey (bad
    exposure flattens levels, edges and colour too).
    """

    dark_brightness: float = 0.1
    dark_ratio: float = 0.4
    bright_brightness: float = 0.95
    bright_ratio: float = 0.4
    blur_sharpness: float = 1.0
    blur_ratio: float = 0.2
    low_entropy: float = 4.0
    aspect_factor: float = 2.0
    size_factor: float = 10.0
    min_side: int = 32
    grey_colorfulness: float = 0.02


def check_images(
    ds: Dataset,
    scans: Mapping[str, ImageScan],
    config: ImageCheckConfig = ImageCheckConfig(),
    appearance: bool = True,
) -> list[Issue]:
    """Issues for unreadable images, sizes that disagree with the annotation, and
    (with ``appearance``) images that are dark, bright, blurry, low in information,
    oddly shaped or sized, or grey in a colour dataset."""
    issues: list[Issue] = []
    good = []
    for r in ds:
        scan = scans.get(r.id)
        if scan is None:
            continue
        if not scan.ok:
            code, reason = scan.error
            issues.append(_issue(ds, r, "image_corrupt", Severity.ERROR, f"{reason} ({code})"))
        else:
            good.append((r, scan.stats))
    if not good:
        return issues
    medians = {k: float(np.median([s[k] for _, s in good])) for k in STAT_NAMES}
    mostly_colour = np.mean([s["colorfulness"] >= config.grey_colorfulness for _, s in good]) > 0.5
    for r, s in good:
        found = _size_issues(r, s, medians, config) if appearance else _size_mismatch(r, s)
        if appearance:
            found += _look_issues(s, medians, config, mostly_colour)
        issues.extend(_issue(ds, r, code, sev, msg) for code, sev, msg in found)
    return issues


Found = list[tuple[str, Severity, str]]  # (code, severity, message) for one image


def _size_mismatch(r: ImageRecord, s: Mapping[str, float]) -> Found:
    w, h = int(s["width"]), int(s["height"])
    if (w, h) == (r.width, r.height):
        return []
    return [
        (
            "image_size_mismatch",
            Severity.ERROR,
            f"image is {w}x{h} px but its annotation says {r.width}x{r.height}: "
            "boxes would land in the wrong place",
        )
    ]


def _size_issues(
    r: ImageRecord, s: Mapping[str, float], med: Mapping[str, float], c: ImageCheckConfig
) -> Found:
    out: Found = _size_mismatch(r, s)
    w, h = int(s["width"]), int(s["height"])
    ratio = s["aspect"] / med["aspect"]
    if not 1 / c.aspect_factor <= ratio <= c.aspect_factor:
        out.append(
            (
                "image_odd_aspect",
                Severity.WARNING,
                f"aspect ratio {s['aspect']:.2f} (w/h) is far from the dataset's median "
                f"{med['aspect']:.2f}",
            )
        )
    pixels = w * h / (med["width"] * med["height"])
    if min(w, h) < c.min_side or not 1 / c.size_factor <= pixels <= c.size_factor:
        out.append(
            (
                "image_odd_size",
                Severity.WARNING,
                f"size {w}x{h} px is far from the dataset's median "
                f"{med['width']:.0f}x{med['height']:.0f} (or a side is under {c.min_side} px)",
            )
        )
    return out


def _look_issues(
    s: Mapping[str, float], med: Mapping[str, float], c: ImageCheckConfig, mostly_colour: bool
) -> Found:
    out: Found = []
    dark = max(c.dark_brightness, c.dark_ratio * med["brightness"])
    bright = min(c.bright_brightness, 1 - c.bright_ratio * (1 - med["brightness"]))
    blur = max(c.blur_sharpness, c.blur_ratio * med["sharpness"])
    b, sharp, entropy = s["brightness"], s["sharpness"], s["entropy"]
    if b < dark:
        out.append(
            (
                "image_dark",
                Severity.WARNING,
                f"brightness {b:.2f} < {dark:.2f} (dataset median {med['brightness']:.2f})",
            )
        )
    elif b > bright:
        out.append(
            (
                "image_bright",
                Severity.WARNING,
                f"brightness {b:.2f} > {bright:.2f} (dataset median {med['brightness']:.2f})",
            )
        )
    elif entropy < c.low_entropy:
        out.append(
            (
                "image_low_information",
                Severity.WARNING,
                f"entropy {entropy:.2f} bits < {c.low_entropy:g}: a nearly uniform image",
            )
        )
    if out:
        # Poor exposure also flattens edges, levels and colour; name the cause once
        # instead of also calling the image uninformative, blurry or grey.
        return out
    if sharp < blur:
        out.append(
            (
                "image_blurry",
                Severity.WARNING,
                f"sharpness {sharp:.1f} < {blur:.1f} (dataset median {med['sharpness']:.1f})",
            )
        )
    if mostly_colour and s["colorfulness"] < c.grey_colorfulness:
        out.append(
            ("image_grayscale", Severity.INFO, "image has no colour while most of the dataset does")
        )
    return out


def _issue(ds: Dataset, r: ImageRecord, code: str, severity: Severity, message: str) -> Issue:
    path = relative_name(r.path, ds.root) if ds.root else str(r.path)
    return Issue(code, severity, message, path=path, image_id=r.id)


# -- cleanvision ----------------------------------------------------------------------------

# cleanvision issue type -> (our code, severity). Its duplicate finders are left out:
# check_duplicate_images knows the splits, so it can tell leakage from a duplicate.
CLEANVISION_CODES: dict[str, tuple[str, Severity]] = {
    "dark": ("image_dark", Severity.WARNING),
    "light": ("image_bright", Severity.WARNING),
    "blurry": ("image_blurry", Severity.WARNING),
    "low_information": ("image_low_information", Severity.WARNING),
    "odd_aspect_ratio": ("image_odd_aspect", Severity.WARNING),
    "odd_size": ("image_odd_size", Severity.WARNING),
    "grayscale": ("image_grayscale", Severity.INFO),
}


def cleanvision_issues(
    ds: Dataset, scans: Mapping[str, ImageScan], workers: int = 2
) -> list[Issue]:
    """cleanvision's image issues (its default thresholds, which adapt to the
    dataset) on the images ``scans`` could decode, as our issue records: one per image
    and cleanvision issue type, its score (0 bad .. 1 fine) in the message."""
    from cleanvision import Imagelab  # optional checker: loaded only when asked for

    records = [r for r in ds if r.id in scans and scans[r.id].ok]
    if not records:
        return []
    lab = Imagelab(filepaths=[str(r.path) for r in records], verbose=False)
    # cleanvision draws progress bars even when told not to be verbose
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        lab.find_issues({kind: {} for kind in CLEANVISION_CODES}, n_jobs=workers, verbose=False)
    table = lab.issues  # pandas, one row per file path
    issues = []
    for r in records:
        row = table.loc[str(r.path)]
        for kind, (code, severity) in CLEANVISION_CODES.items():
            if row[f"is_{kind}_issue"]:
                message = (
                    f"cleanvision: {kind.replace('_', ' ')} "
                    f"(score {row[f'{kind}_score']:.3f}, 0 bad .. 1 fine)"
                )
                issues.append(_issue(ds, r, code, severity, message))
    return issues
