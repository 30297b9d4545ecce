"""Deterministic generated detection datasets: coloured shapes on textured backgrounds.

For tests and the demo: a seed fixes every pixel and every box. Each image has a
gradient-and-texture background, unlabelled clutter (lines, thin or outlined
ellipses, stripes, polylines), then 0..N labelled shapes (filled circles,
axis-aligned squares, triangles) in saturated colours, then gaussian noise.

Labels are honest by construction:

- an object's box is the tight extent of the pixels drawn for it, xyxy in pixels
  with pixel ``i`` spanning ``[i, i + 1)``; a square of side 20 drawn from column
  10 has ``x1 = 10, x2 = 30``;
- objects lie wholly inside the image, so no box is ever clipped;
- a later object may cover part of an earlier one (``occlusion``); the earlier box
  keeps the full extent, and a placement that would hide more than ``max_hidden``
  of any earlier object is refused and retried elsewhere;
- clutter is drawn first, under the objects, so it never hides a label.
"""

from __future__ import annotations

import colorsys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.formats import FORMAT_NAMES
from yolops.errors import ConfigError, DatasetFormatError, YolopsError

SHAPES = ("circle", "square", "triangle")
IMAGE_FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg"}

# Attempts to place one object before giving up on it (the image gets fewer objects).
PLACEMENT_TRIES = 30
# Golden angle: successive object hues stay >= ~30 degrees apart for up to 6 objects,
# so touching objects rarely share a colour and read as one blob.
HUE_STEP = 137.508


@dataclass(frozen=True)
class SynthConfig:
    """How to generate a dataset of shapes. Sizes are in pixels.

    ``image_size`` is (width, height); with ``size_jitter`` = j each image's width
    and height are scaled independently by a factor drawn from [1 - j, 1 + j].
    ``min_size``/``max_size`` bound an object's extent (circle diameter, square
    side, diameter of the circle a triangle is inscribed in). ``noise`` is the
    standard deviation of gaussian pixel noise as a fraction of 255.
    ``max_hidden`` is the largest fraction of an object later objects may cover.
    """

    num_images: int = 64
    image_size: tuple[int, int] = (320, 240)
    size_jitter: float = 0.0
    min_objects: int = 1
    max_objects: int = 6
    min_size: int = 16
    max_size: int = 96
    classes: tuple[str, ...] = SHAPES
    clutter: bool = True
    noise: float = 0.03
    occlusion: bool = True
    max_hidden: float = 0.6
    splits: Mapping[str, float] = field(
        default_factory=lambda: {"train": 0.7, "val": 0.2, "test": 0.1}
    )
    seed: int = 0
    image_format: str = "png"

    def __post_init__(self) -> None:
        # Accept lists (YAML) but store tuples and a private dict copy.
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "splits", dict(self.splits))
        problems = _config_problems(self)
        if problems:
            raise ConfigError("SynthConfig: " + "; ".join(problems))

    def smallest_image(self) -> tuple[int, int]:
        """The smallest (width, height) size jitter can produce."""
        w, h = self.image_size
        return round(w * (1 - self.size_jitter)), round(h * (1 - self.size_jitter))


def _config_problems(c: SynthConfig) -> list[str]:
    problems = []
    if c.num_images < 0:
        problems.append(f"num_images must be >= 0, got {c.num_images}")
    if len(c.image_size) != 2 or min(c.image_size) <= 0:
        problems.append(f"image_size must be (width, height) > 0, got {c.image_size}")
    if not 0 <= c.size_jitter < 1:
        problems.append(f"size_jitter must be in [0, 1), got {c.size_jitter}")
    if not 0 <= c.min_objects <= c.max_objects:
        problems.append(
            f"need 0 <= min_objects <= max_objects, got {c.min_objects}, {c.max_objects}"
        )
    if not 4 <= c.min_size <= c.max_size:
        problems.append(f"need 4 <= min_size <= max_size, got {c.min_size}, {c.max_size}")
    elif len(c.image_size) == 2 and c.max_size > min(c.smallest_image()):
        problems.append(
            f"max_size {c.max_size} does not fit in the smallest image {c.smallest_image()} "
            "(objects must lie wholly inside the image)"
        )
    unknown = [k for k in c.classes if k not in SHAPES]
    if not c.classes or unknown or len(set(c.classes)) != len(c.classes):
        problems.append(f"classes must be distinct names from {SHAPES}, got {c.classes}")
    if c.noise < 0:
        problems.append(f"noise must be >= 0, got {c.noise}")
    if not 0 <= c.max_hidden < 1:
        problems.append(f"max_hidden must be in [0, 1), got {c.max_hidden}")
    if not c.splits or any(f < 0 for f in c.splits.values()) or sum(c.splits.values()) <= 0:
        problems.append(
            f"splits must be non-negative fractions with a positive sum, got {c.splits}"
        )
    if c.image_format.lower() not in IMAGE_FORMATS:
        problems.append(
            f"image_format must be one of {sorted(IMAGE_FORMATS)}, got {c.image_format!r}"
        )
    return problems


@dataclass(frozen=True, eq=False)
class Scene:
    """One rendered image and its labels.

    ``image`` uint8 RGB (H, W, 3); ``boxes`` float32 (N, 4) xyxy pixels; ``classes``
    int64 (N,) indices into ``SynthConfig.classes``; ``visible`` float32 (N,) the
    fraction of each object's pixels not covered by later objects.
    """

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    visible: np.ndarray


# -- public entry points ------------------------------------------------------------


def generate(out_dir: Path | str, config: SynthConfig = SynthConfig()) -> Dataset:
    """Render ``config.num_images`` images into ``out_dir/images/`` and return the
    dataset (name ``shapes``, root ``out_dir``, splits from ``config.splits``).

    ``out_dir/images`` must be absent or empty, so the folder never holds stale
    images that are not in the returned dataset.
    """
    out_dir = Path(out_dir).absolute()
    images_dir = out_dir / "images"
    if images_dir.exists() and any(images_dir.iterdir()):
        raise YolopsError(f"{images_dir}: folder is not empty; generate into a new or empty folder")
    images_dir.mkdir(parents=True, exist_ok=True)
    suffix = IMAGE_FORMATS[config.image_format.lower()]
    digits = max(4, len(str(max(config.num_images - 1, 0))))
    records = []
    for index in range(config.num_images):
        # One stream per image: image i is the same whatever num_images is.
        rng = np.random.default_rng([config.seed, index])
        width, height = _image_size(rng, config)
        scene = render_scene(rng, width, height, config)
        image_id = f"shape_{index:0{digits}d}"
        path = images_dir / f"{image_id}{suffix}"
        _write_image(path, scene.image)
        records.append(ImageRecord(image_id, path, width, height, scene.boxes, scene.classes))
    dataset = Dataset(records, config.classes, name="shapes", root=out_dir)
    return dataset.random_split(config.splits, seed=config.seed)


def generate_to(out: Path | str, format: str, config: SynthConfig = SynthConfig()) -> Path:
    """Generate in a staging folder, then write the dataset under ``out`` in
    ``format`` (``yolo``, ``coco`` or ``voc``); returns its path."""
    if format not in FORMAT_NAMES:
        raise DatasetFormatError(
            f"unknown format {format!r}; choose one of {', '.join(FORMAT_NAMES)}"
        )
    with tempfile.TemporaryDirectory(prefix="yolops-synth-") as staging:
        dataset = generate(Path(staging), config)
        return dataset.save(out, format)


def render_scene(rng: np.random.Generator, width: int, height: int, config: SynthConfig) -> Scene:
    """Draw one image of ``width`` x ``height`` pixels; every random draw comes from ``rng``."""
    image = _background(rng, width, height)  # float32 (H, W, 3), 0..255
    if config.clutter:
        _draw_clutter(rng, image)
    boxes, classes, visible = _draw_objects(rng, image, config)
    if config.noise > 0:
        noise = rng.standard_normal(image.shape, dtype=np.float32)
        noise *= np.float32(config.noise * 255)
        image += noise
    np.clip(image, 0, 255, out=image)
    pixels = np.rint(image, out=image).astype(np.uint8)
    return Scene(pixels, boxes, classes, visible)


# -- sizes, colours, background ----------------------------------------------------------


def _image_size(rng: np.random.Generator, config: SynthConfig) -> tuple[int, int]:
    w, h = config.image_size
    if config.size_jitter == 0:
        return w, h
    fw, fh = 1 + rng.uniform(-config.size_jitter, config.size_jitter, size=2)
    return max(1, round(w * fw)), max(1, round(h * fh))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """HSV (hue in degrees, s and v in 0..1) to an RGB float32 (3,) in 0..255."""
    return np.array(colorsys.hsv_to_rgb((h % 360) / 360, s, v), np.float32) * 255


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    # Backgrounds stay unsaturated so that saturated objects always stand out.
    return _hsv(rng.uniform(0, 360), rng.uniform(0, 0.3), rng.uniform(0.25, 0.9))


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A linear gradient between two muted colours, modulated by smooth texture.
    float32 (H, W, 3) in 0..255."""
    c0, c1 = _muted_colour(rng), _muted_colour(rng)
    angle = rng.uniform(0, 2 * np.pi)
    xs = np.arange(width, dtype=np.float32) * np.float32(np.cos(angle))
    ys = np.arange(height, dtype=np.float32) * np.float32(np.sin(angle))
    t = ys[:, None] + xs[None, :]  # (H, W) position along the gradient direction
    t -= t.min()
    t /= max(float(t.max()), 1.0)
    image = c0 + t[..., None] * (c1 - c0)
    # Low-frequency texture: a coarse random grid upsampled smoothly.
    grid = rng.standard_normal((int(rng.integers(3, 9)), int(rng.integers(3, 9)))).astype(
        np.float32
    )
    texture = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    image *= 1 + np.float32(rng.uniform(0.03, 0.12)) * texture[..., None]
    return image


# -- clutter: unlabelled distractors --------------------------------------------------------


def _draw_clutter(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw 2..6 distractors in place: shapes of kinds that are never labelled."""
    kinds = (_clutter_line, _clutter_ellipse, _clutter_stripes, _clutter_polyline)
    for _ in range(int(rng.integers(2, 7))):
        kinds[int(rng.integers(len(kinds)))](rng, image)


def _any_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(
        float(v) for v in _hsv(rng.uniform(0, 360), rng.uniform(0, 1), rng.uniform(0.1, 1))
    )


def _point(rng: np.random.Generator, image: np.ndarray) -> tuple[int, int]:
    h, w = image.shape[:2]
    return int(rng.integers(0, w)), int(rng.integers(0, h))


def _clutter_line(rng: np.random.Generator, image: np.ndarray) -> None:
    cv2.line(
        image, _point(rng, image), _point(rng, image), _any_colour(rng), int(rng.integers(1, 4))
    )


def _clutter_ellipse(rng: np.random.Generator, image: np.ndarray) -> None:
    # Elongated (axis ratio <= 0.35) when filled, an outline otherwise: never a disc.
    major = int(rng.integers(10, 60))
    filled = rng.random() < 0.5
    ratio = rng.uniform(0.1, 0.35) if filled else rng.uniform(0.2, 1.0)
    axes = (major, max(1, int(major * ratio)))
    thickness = -1 if filled else int(rng.integers(1, 3))
    angle = float(rng.uniform(0, 180))
    cv2.ellipse(image, _point(rng, image), axes, angle, 0, 360, _any_colour(rng), thickness)


def _clutter_stripes(rng: np.random.Generator, image: np.ndarray) -> None:
    """3..8 parallel segments, like a fence or a barcode."""
    cx, cy = _point(rng, image)
    angle = rng.uniform(0, np.pi)
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-along[1], along[0]])
    length, gap = rng.uniform(15, 80), rng.uniform(4, 10)
    count = int(rng.integers(3, 9))
    colour, thickness = _any_colour(rng), int(rng.integers(1, 3))
    for k in range(count):
        mid = np.array([cx, cy]) + (k - count / 2) * gap * across
        a, b = mid - along * length / 2, mid + along * length / 2
        cv2.line(image, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, thickness)


def _clutter_polyline(rng: np.random.Generator, image: np.ndarray) -> None:
    start = np.array(_point(rng, image), np.float64)
    steps = rng.normal(0, 25, size=(int(rng.integers(3, 8)), 2))
    points = np.vstack([start, start + np.cumsum(steps, axis=0)]).astype(np.int32)
    cv2.polylines(image, [points], False, _any_colour(rng), int(rng.integers(1, 3)))


# -- labelled objects ---------------------------------------------------------------


def _crop(mask: np.ndarray) -> np.ndarray:
    """The mask cut to the rows and columns that hold a pixel (the tight extent)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _shape_mask(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A bool mask (h, w) of one shape, cropped tight: h and w are its extent."""
    if kind == "square":
        return np.ones((size, size), bool)
    if kind == "circle":
        # A disc of diameter ``size`` through pixel centres: no 1-pixel nubs at the poles.
        c = (np.arange(size, dtype=np.float32) + 0.5) - size / 2
        return _crop(c[:, None] ** 2 + c[None, :] ** 2 <= (size / 2) ** 2)
    # Triangle: a roughly equilateral one, randomly turned, inscribed in a circle.
    radius = (size - 1) / 2
    angles = rng.uniform(0, 2 * np.pi) + np.radians([0, 120, 240] + rng.uniform(-12, 12, size=3))
    points = radius + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    canvas = np.zeros((size, size), np.uint8)
    cv2.fillPoly(canvas, [np.rint(points).astype(np.int32)], 1)
    return _crop(canvas.astype(bool))


def _draw_objects(
    rng: np.random.Generator, image: np.ndarray, config: SynthConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place and paint objects in place; returns boxes (N, 4), classes (N,), visible (N,)."""
    height, width = image.shape[:2]
    owner = np.full((height, width), -1, np.int16)  # index of the object on top, -1 none
    areas: list[int] = []
    boxes: list[tuple[int, int, int, int]] = []
    classes: list[int] = []
    hue0 = rng.uniform(0, 360)
    for _ in range(int(rng.integers(config.min_objects, config.max_objects + 1))):
        placed = _place(rng, owner, areas, config)
        if placed is None:
            continue
        cls, mask, x0, y0 = placed
        mh, mw = mask.shape
        k = len(areas)
        owner[y0 : y0 + mh, x0 : x0 + mw][mask] = k
        hue = hue0 + k * HUE_STEP + rng.uniform(-5, 5)
        image[y0 : y0 + mh, x0 : x0 + mw][mask] = _hsv(
            hue, rng.uniform(0.6, 1), rng.uniform(0.55, 1)
        )
        areas.append(int(mask.sum()))
        boxes.append((x0, y0, x0 + mw, y0 + mh))
        classes.append(cls)
    shown = np.bincount(owner[owner >= 0], minlength=len(areas))
    visible = shown / np.maximum(np.array(areas, np.float64), 1)
    return (
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(classes, np.int64),
        visible.astype(np.float32),
    )


def _place(
    rng: np.random.Generator, owner: np.ndarray, areas: list[int], config: SynthConfig
) -> tuple[int, np.ndarray, int, int] | None:
    """Find a class, mask and top-left (x0, y0) for a new object wholly inside the
    image that keeps every earlier object at least ``1 - max_hidden`` visible (or,
    without occlusion, touches none). None after ``PLACEMENT_TRIES`` failures."""
    height, width = owner.shape
    shown = np.bincount(owner[owner >= 0], minlength=len(areas))
    floor = (1 - config.max_hidden) * np.array(areas, np.float64)
    for _ in range(PLACEMENT_TRIES):
        cls = int(rng.integers(len(config.classes)))
        mask = _shape_mask(
            config.classes[cls], int(rng.integers(config.min_size, config.max_size + 1)), rng
        )
        mh, mw = mask.shape
        x0, y0 = int(rng.integers(0, width - mw + 1)), int(rng.integers(0, height - mh + 1))
        under = owner[y0 : y0 + mh, x0 : x0 + mw][mask]
        covered = np.bincount(under[under >= 0], minlength=len(areas))
        if not config.occlusion and covered.any():
            continue
        if np.all(shown - covered >= floor):
            return cls, mask, x0, y0
    return None


def _write_image(path: Path, rgb: np.ndarray) -> None:
    suffix = path.suffix
    if suffix == ".jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    else:
        # Noisy pixels barely deflate; Huffman-only coding is faster and smaller here.
        params = [
            cv2.IMWRITE_PNG_COMPRESSION,
            1,
            cv2.IMWRITE_PNG_STRATEGY,
            cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
        ]
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise YolopsError(f"{path}: OpenCV could not encode the image as {suffix}")
    path.write_bytes(encoded.tobytes())
