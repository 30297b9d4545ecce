"""Hostile images through `data validate`: a cut JPEG is a corrupt image named by file
(and libjpeg prints nothing), EXIF-rotated images are not size mismatches, background
images are one note, and memory is bounded by decoded pixels in flight (issue 17)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from yolops.data.dataset import load_dataset
from yolops.data.images import probe_image
from yolops.quality import images as quality_images
from yolops.quality.images import PixelBudget, scan_image
from yolops.quality.validate import QualityConfig, validate_dataset

from hostile_support import yolo_dataset


def jpeg(width: int, height: int, seed: int = 0, orientation: int = 1, **save) -> bytes:
    rng = np.random.default_rng(seed)
    base = (rng.random((height // 8 + 1, width // 8 + 1, 3)) * 255).astype(np.uint8)
    pixels = np.asarray(Image.fromarray(base).resize((width, height)))
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90, exif=exif.tobytes(), **save)
    return buf.getvalue()


def test_a_cut_jpeg_is_a_corrupt_image_named_by_file(tmp_path, capfd):
    whole = jpeg(160, 120, seed=1)
    cut = whole[: len(whole) // 2] + b"\xff\xd9"
    box = "0 0.5 0.5 0.2 0.2\n"
    ds = load_dataset(
        yolo_dataset(tmp_path / "y", {"ok.jpg": whole, "cut.jpg": cut}, {"ok": box, "cut": box})
    )
    report = validate_dataset(ds, config=QualityConfig(workers=2))
    corrupt = [i for i in report.issues if i.code == "image_corrupt"]
    assert [(i.path, i.image_id) for i in corrupt] == [("images/train/cut.jpg", "cut")]
    assert "JPEG data ends before the image does" in corrupt[0].message
    assert "image_truncated" in corrupt[0].message
    assert "ok" in report.image_stats and "cut" not in report.image_stats
    assert "Corrupt JPEG data" not in capfd.readouterr().err  # no anonymous libjpeg line


def test_exif_rotated_images_are_no_size_mismatch_and_background_is_one_note(tmp_path):
    rotated = jpeg(90, 60, seed=2, orientation=6)
    ds = load_dataset(
        yolo_dataset(
            tmp_path / "y",
            {"rot.jpg": rotated, "bg.jpg": jpeg(60, 90, seed=3)},
            {"rot": "0 0.5 0.5 0.2 0.2\n"},
        )
    )
    assert (ds["rot"].width, ds["rot"].height) == (60, 90)
    report = validate_dataset(ds)
    codes = [(i.code, i.image_id) for i in report.issues]
    assert not [c for c in codes if c[0] in ("image_size_mismatch", "size_mismatch")]
    assert [c for c in codes if c[1] == "bg"] == [("label_missing", "bg")]  # once, a note
    assert report.exit_code("warning") == 0


def test_large_images_are_scanned_from_a_reduced_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(quality_images, "REDUCE_ABOVE", 100 * 100)
    monkeypatch.setattr(quality_images, "REDUCED_SIDE", 96)
    rng = np.random.default_rng(4)
    big = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    png = io.BytesIO()
    Image.fromarray(big).save(png, "PNG")
    for name, data in (("big.jpg", jpeg(800, 600, seed=4)), ("big.png", png.getvalue())):
        path = tmp_path / name
        path.write_bytes(data)
        info = probe_image(path)
        pixels = quality_images._decode_for_scan(data, info, name)
        assert max(pixels.shape[:2]) <= 96 and pixels.dtype == np.uint8
        scan = scan_image(_record(path, info))
        assert scan.ok and (scan.stats["width"], scan.stats["height"]) == (info.width, info.height)
        assert scan.stats["aspect"] == info.width / info.height


def _record(path: Path, info):
    from yolops.data.record import ImageRecord

    return ImageRecord(path.stem, path, info.width, info.height)


def test_the_pixel_budget_keeps_two_large_images_apart():
    budget = PixelBudget(limit=100)
    first_held, second_in, release = threading.Event(), threading.Event(), threading.Event()
    peak = []

    def first() -> None:
        with budget.hold(10_000):  # over the limit: runs alone
            first_held.set()
            release.wait(30)
            peak.append(budget.held)

    def second() -> None:
        first_held.wait(30)
        with budget.hold(60):
            second_in.set()
            peak.append(budget.held)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_held.wait(30)
    assert not second_in.wait(0.2)  # waits while the large one is held
    release.set()
    for t in threads:
        t.join(30)
    assert second_in.is_set() and peak == [100, 60] and budget.held == 0
    with budget.hold(30), budget.hold(30):  # small ones share the budget
        assert budget.held == 60
