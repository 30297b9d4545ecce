from pathlib import Path

import cv2
import numpy as np
import pytest

from yolops.errors import YolopsError
from yolops.infer.sources import VideoWriter, iter_images, iter_video, probe_video


def _write_png(path: Path, rgb: tuple[int, int, int], size=(12, 8)) -> Path:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[...] = rgb
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def _write_video(path: Path, frames: int, size=(64, 48), fps=10.0) -> Path:
    with VideoWriter(path, size[0], size[1], fps) as writer:
        for i in range(frames):
            writer.write(np.full((size[1], size[0], 3), i * 20, np.uint8))
    return path


def test_image_path_gives_rgb(tmp_path):
    path = _write_png(tmp_path / "a.png", (255, 10, 0))
    [(name, image)] = list(iter_images(path))
    assert name == str(path)
    assert image.dtype == np.uint8 and image.shape == (8, 12, 3)
    assert image[0, 0].tolist() == [255, 10, 0]  # RGB, not OpenCV's BGR


def test_folder_is_sorted_and_not_recursive_by_default(tmp_path):
    for name in ("b.png", "a.jpg", "c.PNG"):
        _write_png(tmp_path / name, (1, 2, 3))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _write_png(tmp_path / "sub" / "d.png", (1, 2, 3))
    names = [Path(n).name for n, _ in iter_images(tmp_path)]
    assert names == ["a.jpg", "b.png", "c.PNG"]
    names = [Path(n).name for n, _ in iter_images(tmp_path, recursive=True)]
    assert names == ["a.jpg", "b.png", "c.PNG", "d.png"]


def test_glob_pattern(tmp_path):
    for name in ("x1.png", "x2.png", "y.png"):
        _write_png(tmp_path / name, (1, 2, 3))
    names = [Path(n).name for n, _ in iter_images(str(tmp_path / "x*.png"))]
    assert names == ["x1.png", "x2.png"]


def test_arrays_and_mixed_lists(tmp_path):
    a = np.zeros((5, 6, 3), np.uint8)
    path = _write_png(tmp_path / "p.png", (9, 9, 9))
    [(name, image)] = list(iter_images(a))
    assert name == "array_000000" and image is a
    items = list(iter_images([a, path, a]))
    assert [n for n, _ in items] == ["array_000000", str(path), "array_000002"]


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((5, 6), np.uint8), "(5, 6)"),
        (np.zeros((5, 6, 3), np.float32), "float32"),
        (np.zeros((5, 6, 4), np.uint8), "(5, 6, 4)"),
    ],
)
def test_bad_arrays_are_refused(bad, words):
    with pytest.raises(YolopsError, match="RGB uint8") as e:
        iter_images([bad])
    assert words in str(e.value)


def test_missing_path_fails_before_iterating(tmp_path):
    with pytest.raises(YolopsError, match="nope.jpg: no such file"):
        iter_images(tmp_path / "nope.jpg")
    # A list fails on its bad member even when the others are fine.
    good = _write_png(tmp_path / "ok.png", (1, 2, 3))
    with pytest.raises(YolopsError, match="missing.png"):
        iter_images([good, tmp_path / "missing.png"])


def test_empty_folder_and_unmatched_glob(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(YolopsError, match="no image or video files"):
        iter_images(tmp_path)
    with pytest.raises(YolopsError, match="matches no image"):
        iter_images(str(tmp_path / "*.jpg"))
    with pytest.raises(YolopsError, match="empty list"):
        iter_images([])


def test_unreadable_image_names_the_file(tmp_path):
    _write_png(tmp_path / "a.png", (1, 2, 3))
    (tmp_path / "b.jpg").write_bytes(b"this is not a jpeg")
    stream = iter_images(tmp_path)
    assert Path(next(stream)[0]).name == "a.png"
    with pytest.raises(YolopsError, match="b.jpg"):
        next(stream)


def test_video_frames_names_and_stride(tmp_path):
    path = _write_video(tmp_path / "clip.mp4", frames=7)
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48) and info.fps == pytest.approx(10.0)
    frames = list(iter_images(path))
    assert [n for n, _ in frames] == [f"{path}#frame_{i:06d}" for i in range(7)]
    assert frames[3][1].shape == (48, 64, 3)
    # mp4v is lossy, but a flat frame keeps its level.
    assert abs(float(frames[3][1].mean()) - 60) < 4
    strided = list(iter_video(path, vid_stride=3))
    assert [n.rsplit("_", 1)[1] for n, _ in strided] == ["000000", "000003", "000006"]
    assert abs(float(strided[2][1].mean()) - 120) < 4


def test_folder_with_video_and_images(tmp_path):
    _write_video(tmp_path / "b.mp4", frames=2)
    _write_png(tmp_path / "a.png", (1, 2, 3))
    names = [Path(n).name for n, _ in iter_images(tmp_path)]
    assert names == ["a.png", "b.mp4#frame_000000", "b.mp4#frame_000001"]


def test_video_that_cannot_be_opened(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(YolopsError, match="broken.mp4"):
        list(iter_images(bad))


def test_video_writer_refuses_a_frame_of_another_size(tmp_path):
    with VideoWriter(tmp_path / "out.mp4", 32, 24) as writer:
        writer.write(np.zeros((24, 32, 3), np.uint8))
        with pytest.raises(YolopsError, match="frame 1 is 40x24"):
            writer.write(np.zeros((24, 40, 3), np.uint8))
    assert writer.frames == 1
    assert (tmp_path / "out.mp4").stat().st_size > 0


def test_vid_stride_must_be_positive(tmp_path):
    with pytest.raises(YolopsError, match="vid_stride"):
        iter_images(np.zeros((2, 2, 3), np.uint8), vid_stride=0)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("https://example.com/bus.jpg", "a URL (https://) is not supported as a source yet"),
        ("http://example.com/*.jpg", "a URL (http://) is not supported"),
        ("rtsp://camera.local/stream1", "a stream (rtsp://) is not supported as a source yet"),
        ("0", "camera indexes (live cameras) are not supported as a source yet"),
    ],
)
def test_live_sources_are_refused_as_not_supported_yet(spec, words):
    with pytest.raises(YolopsError) as e:
        iter_images(spec)
    assert words in str(e.value) and "no such file or folder" not in str(e.value)
    assert "a folder of images and videos, a glob pattern or a video file" in str(e.value)


def test_a_file_named_like_a_camera_index_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_png(tmp_path / "0.png", (1, 2, 3)).rename(tmp_path / "0")
    [(name, _)] = list(iter_images("0"))
    assert name == "0"


def test_pixel_limit_applies_before_decoding(tmp_path, monkeypatch):
    """The loader's limit (MAX_PIXELS), read from the header: a file over it is never decoded."""
    import yolops.data.images as images

    _write_png(tmp_path / "a-small.png", (1, 2, 3), size=(8, 8))
    _write_png(tmp_path / "b-large.png", (1, 2, 3), size=(20, 10))
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    decoded = []
    decode = images.decode_image
    monkeypatch.setattr(
        images, "decode_image", lambda data, source: decoded.append(source) or decode(data, source)
    )
    stream = iter_images(tmp_path)
    assert Path(next(stream)[0]).name == "a-small.png"
    with pytest.raises(YolopsError, match=r"b-large.png: image has 20x10 pixels \(limit 100\)"):
        next(stream)
    assert decoded == [str(tmp_path / "a-small.png")]


def test_on_error_reports_each_unreadable_file_and_goes_on(tmp_path):
    from yolops.infer.sources import iter_sized_images

    _write_png(tmp_path / "a.png", (1, 2, 3))
    (tmp_path / "b.jpg").write_bytes(b"this is not a jpeg")
    _write_png(tmp_path / "c.png", (4, 5, 6))
    (tmp_path / "d.mp4").write_bytes(b"not a video")
    _write_png(tmp_path / "e.png", (7, 8, 9))
    errors = []
    names = [
        Path(name).name
        for name, _, _ in iter_sized_images(tmp_path, on_error=lambda n, e: errors.append((n, e)))
    ]
    assert names == ["a.png", "c.png", "e.png"]
    assert [Path(n).name for n, _ in errors] == ["b.jpg", "d.mp4"]
    assert all(Path(n).name in str(e) for n, e in errors)
