"""What a user points a detector at, as a stream of ``(name, image)`` items.

A source is a path to an image, a folder (its images and videos, sorted, not
recursive unless asked), a glob pattern, a video file, an RGB uint8 array
(H, W, 3), or a list of any of these. Every image comes out as an RGB uint8 array
(H, W, 3); video frames are named ``clip.mp4#frame_000012`` (0-based frame index
in the file), arrays ``array_000003`` (their index in the list).

Paths are checked when the source is resolved, before the first image is read, so
a typo fails at once; an unreadable image or video fails when the stream reaches
it, naming the file (or, with ``on_error``, is reported and the stream goes on).
An image file is refused by its header, before any pixel is decoded, when it has more
pixels than the loader accepts (:data:`yolops.data.images.MAX_PIXELS`). Nothing is
skipped silently.

Live sources (a URL, a camera index such as ``0``, an ``rtsp://`` stream) are not
supported yet: they are refused with a message that says so.
"""

from __future__ import annotations

import glob
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yolops.data.images import is_image_name, probe_image, read_image, read_image_for_model
from yolops.errors import ImageReadError, SourceError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

SourceItem = str | Path | np.ndarray
Source = SourceItem | Sequence[SourceItem]

# What `yolops predict --source` and Detector.predict read today, for messages and help.
SUPPORTED = "an image file, a folder of images and videos, a glob pattern or a video file"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

OnError = Callable[[str, Exception], None]


def is_video_name(path: Path | str) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class _Video:
    path: Path


@dataclass(frozen=True)
class _Image:
    path: Path


@dataclass(frozen=True)
class _Array:
    name: str
    image: np.ndarray


_Resolved = _Image | _Video | _Array


def iter_images(
    source: Source, vid_stride: int = 1, recursive: bool = False
) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, RGB uint8 (H, W, 3))`` for every image and kept video frame of ``source``.

    ``vid_stride`` keeps every n-th video frame (frames 0, n, 2n, ...). Raises
    :class:`SourceError` at once for a missing path, an empty folder or an
    unmatched glob; later, while iterating, for an image or video that cannot be read.
    """
    return (item[:2] for item in iter_sized_images(source, vid_stride, recursive))


def iter_sized_images(
    source: Source,
    vid_stride: int = 1,
    recursive: bool = False,
    imgsz: int | None = None,
    on_error: OnError | None = None,
) -> Iterator[tuple[str, np.ndarray, tuple[int, int]]]:
    """:func:`iter_images` as ``(name, RGB uint8 (h, w, 3), (width, height))``.

    With ``imgsz``, JPEG files are decoded at a reduced scale when a model of that
    input size cannot use their full resolution (:func:`yolops.data.images.decode_for_model`):
    the pixels are then smaller than (width, height), the original size. Without it,
    or for anything else, the pixels have the original size.

    ``on_error(name, error)``: called for an image or video that cannot be read (the
    frames of a video read before its error are kept), and the stream goes on; without
    it, the error is raised."""
    if vid_stride < 1:
        raise SourceError(f"vid_stride must be >= 1, got {vid_stride}")
    items = resolve_source(source, recursive)
    return _stream(items, vid_stride, imgsz, on_error)


def count_frames(source: Source, vid_stride: int = 1, recursive: bool = False) -> int | None:
    """How many images :func:`iter_sized_images` will yield for ``source`` (videos by the
    frame count their container reports), or None when a video does not say."""
    total = 0
    for item in resolve_source(source, recursive):
        if isinstance(item, _Video):
            try:
                frames = probe_video(item.path).frames
            except SourceError:
                frames = 1  # the stream reports it, and it counts as one item done
            if frames <= 0:
                return None
            total += math.ceil(frames / vid_stride)
        else:
            total += 1
    return total


def resolve_source(source: Source, recursive: bool = False) -> list[_Resolved]:
    """Expand ``source`` into image files, video files and arrays, checking paths now."""
    if isinstance(source, np.ndarray):
        return [_Array("array_000000", _check_array(source, "array_000000"))]
    if isinstance(source, (str, Path)):
        return _resolve_path(source, recursive)
    if isinstance(source, (list, tuple)):
        if not source:
            raise SourceError("source is an empty list")
        out: list[_Resolved] = []
        for i, item in enumerate(source):
            if isinstance(item, np.ndarray):
                name = f"array_{i:06d}"
                out.append(_Array(name, _check_array(item, name)))
            elif isinstance(item, (str, Path)):
                out.extend(_resolve_path(item, recursive))
            else:
                raise SourceError(
                    f"source item {i} is a {type(item).__name__}; expected a path or an RGB array"
                )
        return out
    raise SourceError(
        f"source is a {type(source).__name__}; "
        "expected a path, a glob, an RGB array or a list of them"
    )


def _resolve_path(spec: str | Path, recursive: bool) -> list[_Resolved]:
    path = Path(spec).expanduser()
    if path.is_dir():
        return _resolve_folder(path, recursive)
    if path.is_file():
        return [_classify(path)]
    _refuse_live(str(spec))
    if isinstance(spec, str) and any(ch in spec for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        found = [
            _classify(p) for p in matches if p.is_file() and (is_image_name(p) or is_video_name(p))
        ]
        if not found:
            raise SourceError(f"{spec}: glob pattern matches no image or video files")
        return found
    raise SourceError(f"{spec}: no such file or folder")


def _refuse_live(spec: str) -> None:
    """A URL, a stream or a camera index (no file of that name exists): not supported yet."""
    if _URL.match(spec):
        scheme = spec.split("://", 1)[0].lower()
        kind = "a stream" if scheme in ("rtsp", "rtmp", "udp", "tcp", "srt") else "a URL"
        raise SourceError(
            f"{spec}: {kind} ({scheme}://) is not supported as a source yet; "
            f"give {SUPPORTED} (download the file first)"
        )
    if spec.strip().isdigit():
        raise SourceError(
            f"{spec}: no such file, and camera indexes (live cameras) are not supported as a "
            f"source yet; give {SUPPORTED}"
        )


def _resolve_folder(folder: Path, recursive: bool) -> list[_Resolved]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    found = sorted(p for p in candidates if p.is_file() and (is_image_name(p) or is_video_name(p)))
    if not found:
        where = (
            "or below it" if recursive else "directly inside (use recursive=True for subfolders)"
        )
        raise SourceError(f"{folder}: folder has no image or video files {where}")
    return [_classify(p) for p in found]


def _classify(path: Path) -> _Resolved:
    # An unknown suffix is tried as an image: decoding decides, and names the file if it fails.
    return _Video(path) if is_video_name(path) else _Image(path)


def _check_array(image: np.ndarray, name: str) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SourceError(
            f"{name}: expected an RGB uint8 array (H, W, 3), got {image.dtype} {tuple(image.shape)}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise SourceError(f"{name}: image array is empty {tuple(image.shape)}")
    return image


def _stream(
    items: list[_Resolved], vid_stride: int, imgsz: int | None, on_error: OnError | None = None
) -> Iterator[tuple[str, np.ndarray, tuple[int, int]]]:
    for item in items:
        if isinstance(item, _Array):
            yield item.name, item.image, _size(item.image)
            continue
        try:
            if isinstance(item, _Image):
                yield str(item.path), *_read(item.path, imgsz)
            else:
                for name, frame in iter_video(item.path, vid_stride):
                    yield name, frame, _size(frame)
        except (ImageReadError, SourceError) as e:
            if on_error is None:
                raise
            on_error(str(item.path), e)


def _read(path: Path, imgsz: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    # The header first: a file declaring more pixels than the loader accepts is refused
    # before a decoder allocates them (a 100 kB PNG can declare 30000 x 30000).
    probe_image(path)
    if imgsz is not None:
        return read_image_for_model(path, imgsz)
    image = read_image(path)
    return image, _size(image)


def _size(image: np.ndarray) -> tuple[int, int]:
    return image.shape[1], image.shape[0]


# -- video ---------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float  # 0.0 when the container does not say
    frames: int  # as the container reports it; may be approximate or 0


def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise SourceError(f"{path}: video file does not exist")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{path}: video cannot be opened (unknown container or codec)")
    return cap


def probe_video(path: Path | str) -> VideoInfo:
    """Size, frame rate and frame count of a video file, from its header."""
    cap = _open_video(Path(path))
    try:
        return VideoInfo(
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
        )
    finally:
        cap.release()


def iter_video(path: Path | str, vid_stride: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """``(f"{path}#frame_{i:06d}", RGB uint8 frame)`` for frames 0, stride, 2*stride, ..."""
    path = Path(path)
    cap = _open_video(path)
    try:
        index, kept = 0, 0
        while True:
            if index % vid_stride:
                # grab() skips a frame without decoding its pixels.
                if not cap.grab():
                    break
            else:
                ok, frame = cap.read()
                if not ok:
                    break
                kept += 1
                yield f"{path}#frame_{index:06d}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        if kept == 0:
            raise SourceError(f"{path}: video opened but no frame could be decoded")
    finally:
        cap.release()


class VideoWriter:
    """Writes RGB uint8 frames (height, width, 3) to an mp4v video file.

    Use as a context manager or call :meth:`close`; a frame of another size raises
    (OpenCV would silently drop it).
    """

    def __init__(self, path: Path | str, width: int, height: int, fps: float = 30.0):
        self.path = Path(path)
        if width <= 0 or height <= 0:
            raise SourceError(f"{self.path}: video size must be positive, got {width}x{height}")
        if fps <= 0:
            raise SourceError(f"{self.path}: video fps must be positive, got {fps}")
        self.size = (int(width), int(height))
        self.fps = float(fps)
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size
        )
        if not self._writer.isOpened():
            raise SourceError(
                f"{self.path}: cannot open video for writing (mp4v, {width}x{height})"
            )

    def write(self, frame: np.ndarray) -> None:
        _check_array(frame, f"{self.path} frame {self.frames}")
        size = (frame.shape[1], frame.shape[0])
        if size != self.size:
            raise SourceError(
                f"{self.path}: frame {self.frames} is {size[0]}x{size[1]}, "
                f"but the video is {self.size[0]}x{self.size[1]}"
            )
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        self._writer.release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
