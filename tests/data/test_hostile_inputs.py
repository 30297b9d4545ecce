"""Hostile and unlucky input to the dataset readers: each case a clear record naming
the file, the line or record and the problem, or a DatasetFormatError naming the file
and the key; never a Python exception, never a silent drop, never a wrong result.

Every file is generated in tmp_path. The cases follow issue 17 (a corpus of bad
inputs built outside the project): EXIF orientation, cut JPEGs, duplicate COCO ids,
symbolic links out of the root, YAML alias bombs, huge numbers, non-UTF-8 lists,
missing keys, decompression bombs.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from yolops import safe_yaml
from yolops.data.dataset import load_dataset
from yolops.data.formats import detect_format
from yolops.data.images import (
    MAX_PIXELS,
    check_jpeg_data,
    jpeg_data_complete,
    probe_image,
    read_image,
)
from yolops.errors import DatasetFormatError, ImageReadError
from yolops.issues import Severity

from hostile_support import yolo_dataset
from issue_support import issues_with, one_issue


def jpeg_bytes(width: int, height: int, orientation: int = 1, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    Image.fromarray(pixels).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height``: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def voc_dataset(root: Path, size: tuple[int, int], image: bytes, box=(11, 21, 30, 50)) -> Path:
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "JPEGImages/a.jpg").write_bytes(image)
    xmin, ymin, xmax, ymax = box
    (root / "Annotations/a.xml").write_text(
        f"<annotation><filename>a.jpg</filename><size><width>{size[0]}</width>"
        f"<height>{size[1]}</height></size><object><name>thing</name><bndbox>"
        f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        "</bndbox></object></annotation>"
    )
    return root


def coco_file(root: Path, doc: dict, images: dict[str, bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (images or {}).items():
        (root / name).write_bytes(data)
    file = root / "instances_train.json"
    file.write_text(json.dumps(doc) if isinstance(doc, dict) else doc)
    return file


def coco_doc(annotations: list[dict], images: list[dict] | None = None) -> dict:
    return {
        "images": images or [{"id": 1, "file_name": "a.jpg", "width": 60, "height": 40}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing"}],
    }


# -- 1. EXIF orientation --------------------------------------------------------------------


def test_sizes_are_as_shown_with_exif_orientation_applied(tmp_path):
    """A JPEG stored 60x40 with orientation 6 shows (and decodes) as 40x60: the loader
    sizes it as every decoder does, so boxes sit where annotation tools drew them."""
    data = jpeg_bytes(60, 40, orientation=6)
    path = tmp_path / "rot.jpg"
    path.write_bytes(data)
    info = probe_image(path)
    assert (info.width, info.height, info.stored_size, info.orientation) == (40, 60, (60, 40), 6)
    assert read_image(path).shape[:2] == (60, 40)  # decoders agree: 60 high, 40 wide
    ds = load_dataset(
        yolo_dataset(tmp_path / "yolo", {"r.jpg": data}, {"r": "0 0.5 0.5 0.5 0.5\n"})
    )
    r = ds["r"]
    assert (r.width, r.height) == (40, 60)
    assert r.boxes.tolist() == [[10.0, 15.0, 30.0, 45.0]]  # normalised on the shown image
    assert not ds.issues


def test_an_annotation_giving_the_stored_size_is_explained_by_orientation(tmp_path):
    root = voc_dataset(tmp_path / "voc", (60, 40), jpeg_bytes(60, 40, orientation=6))
    ds = load_dataset(root)
    issue = one_issue(ds, "size_mismatch")
    assert (issue.severity, issue.path, issue.location) == (
        Severity.WARNING,
        "Annotations/a.xml",
        "size",
    )
    assert "EXIF orientation (6)" in issue.message and "40x60 as shown" in issue.message
    assert (ds["a"].width, ds["a"].height) == (40, 60)
    # A size that orientation does not explain says only that it differs.
    other = load_dataset(voc_dataset(tmp_path / "voc2", (61, 41), jpeg_bytes(60, 40)))
    assert "orientation" not in one_issue(other, "size_mismatch").message


# -- 2. a JPEG cut short with its end marker re-appended ----------------------------------


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_a_cut_jpeg_with_its_end_marker_is_found(keep):
    data = jpeg_bytes(96, 64, seed=1)
    cut = data[: int(len(data) * keep)] + b"\xff\xd9"
    assert jpeg_data_complete(data) is True
    assert jpeg_data_complete(cut) is False
    with pytest.raises(ImageReadError) as err:
        check_jpeg_data(cut, "images/cut.jpg")
    assert err.value.code == "image_truncated" and "images/cut.jpg" in str(err.value)
    check_jpeg_data(data, "whole.jpg")  # a whole file passes


def test_progressive_and_grey_jpegs_pass_the_cut_check():
    rng = np.random.default_rng(2)
    for image in ((rng.random((50, 70)) * 255).astype(np.uint8), jpeg_bytes(70, 50)):
        if isinstance(image, bytes):
            image = np.asarray(Image.open(io.BytesIO(image)))
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", progressive=True)
        assert jpeg_data_complete(buf.getvalue()) is True
        cut = buf.getvalue()[: len(buf.getvalue()) // 2] + b"\xff\xd9"
        assert jpeg_data_complete(cut) is False


# -- 3. duplicate COCO image ids ------------------------------------------------------------


def test_annotations_of_a_shared_coco_image_id_land_on_no_image(tmp_path):
    image = jpeg_bytes(60, 40)
    images = [
        {"id": 1, "file_name": "a.jpg", "width": 60, "height": 40},
        {"id": 1, "file_name": "b.jpg", "width": 60, "height": 40},
        {"id": 2, "file_name": "c.jpg", "width": 60, "height": 40},
    ]
    ann = [
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]},
        {"id": 11, "image_id": 2, "category_id": 1, "bbox": [2, 2, 10, 10]},
    ]
    file = coco_file(
        tmp_path / "coco", coco_doc(ann, images), {n: image for n in ("a.jpg", "b.jpg", "c.jpg")}
    )
    ds = load_dataset(file)
    found = issues_with(ds, "image_id_duplicate")
    assert len(found) == 2 and {i.severity for i in found} == {Severity.ERROR}
    assert all("'a.jpg'" in i.message and "'b.jpg'" in i.message for i in found)
    assert ds.ids == ["c"] and ds.num_boxes == 1  # no box on a picture it may not belong to


# -- 4 and 5. symbolic links ------------------------------------------------------------------


def test_a_linked_image_outside_the_root_is_refused_and_not_copied(tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(jpeg_bytes(60, 40, seed=3))
    yaml_file = yolo_dataset(tmp_path / "yolo", {"a.jpg": jpeg_bytes(60, 40)}, {"a": "", "b": ""})
    os.symlink(outside, tmp_path / "yolo/images/train/b.jpg")
    ds = load_dataset(yaml_file)
    issue = one_issue(ds, "path_escapes_root")
    assert (issue.severity, issue.path) == (Severity.ERROR, "images/train/b.jpg")
    assert "symbolic link" in issue.message and str(outside) in issue.message
    assert ds.ids == ["a"]
    out = ds.save(tmp_path / "out", "yolo")
    assert not list((out.parent / "images").rglob("b.jpg"))


def test_a_voc_image_linked_outside_the_root_is_refused(tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(jpeg_bytes(60, 40, seed=3))
    root = voc_dataset(tmp_path / "voc", (60, 40), jpeg_bytes(60, 40))
    (root / "JPEGImages/a.jpg").unlink()
    os.symlink(outside, root / "JPEGImages/a.jpg")
    ds = load_dataset(root)
    issue = one_issue(ds, "path_escapes_root")
    assert (issue.path, issue.location, issue.image_id) == ("Annotations/a.xml", "filename", "a")
    assert "symbolic link" in issue.message and len(ds) == 0


def test_linked_folders_are_followed_inside_the_root_and_reported_outside(tmp_path):
    root = tmp_path / "yolo"
    yaml_file = yolo_dataset(root, {"a.jpg": jpeg_bytes(60, 40)}, {"a": "0 0.5 0.5 0.2 0.2\n"})
    (root / "more/images").mkdir(parents=True)
    (root / "more/images/m.jpg").write_bytes(jpeg_bytes(60, 40, seed=4))
    os.symlink(root / "more/images", root / "images/train/inside")  # inside the root
    (root / "labels/train/inside").mkdir()
    (root / "labels/train/inside/m.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    away = tmp_path / "away"
    away.mkdir()
    (away / "x.jpg").write_bytes(jpeg_bytes(60, 40, seed=5))
    os.symlink(away, root / "images/train/outside")
    os.symlink(root / "images/train", root / "images/train/loop")  # a loop
    ds = load_dataset(yaml_file)
    assert sorted(ds.ids) == ["a", "inside/m"] and len(ds["inside/m"]) == 1
    issue = one_issue(ds, "path_escapes_root")
    assert (issue.severity, issue.path) == (Severity.ERROR, "images/train/outside")
    assert "folder" in issue.message and str(away) in issue.message
    assert one_issue(ds, "folder_linked_twice").path == "images/train/loop"


# -- 8. YAML alias bombs ------------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"train: images/train\nnames: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    root = tmp_path / "yolo"
    yolo_dataset(root, {"a.jpg": jpeg_bytes(60, 40)}, {"a": ""})
    (root / "data.yaml").write_text(billion_laughs())
    with pytest.raises(DatasetFormatError) as err:
        load_dataset(root / "data.yaml")
    assert "data.yaml" in str(err.value) and "aliases" in str(err.value)
    with pytest.raises(yaml.YAMLError, match="loop"):
        safe_yaml.load("a: &a [1, *a]\n")
    # Ordinary anchors still load.
    assert safe_yaml.load("base: &b {x: 1}\nother: *b\n") == {"base": {"x": 1}, "other": {"x": 1}}


def test_every_yaml_reader_refuses_the_bomb(tmp_path):
    from yolops.errors import ConfigError
    from yolops.quality.schema import Schema
    from yolops.serve.config import load_serve_config
    from yolops.train.config import TrainConfig

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    for load in (Schema.load, load_serve_config, TrainConfig.from_yaml):
        with pytest.raises(ConfigError, match="bomb.yaml"):
            load(bomb)


# -- 9. numbers too large, text that is not UTF-8 ---------------------------------------------


@pytest.mark.parametrize(
    "value", [10**400 // 10**100, "1" + "0" * 5000, "-" + "9" * 400], ids=["1e300", "5001", "neg"]
)
def test_huge_coco_numbers_are_records_not_crashes(tmp_path, value):
    ann = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": ["HUGE", 1, 10, 10]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]},
    ]
    text = json.dumps(coco_doc(ann)).replace('"HUGE"', str(value))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning either
        ds = load_dataset(coco_file(tmp_path / "coco", text, {"a.jpg": jpeg_bytes(60, 40)}))
    issue = one_issue(ds, "box_nonfinite")
    assert (issue.path, issue.location) == ("instances_train.json", "annotation id 1")
    assert ds.num_boxes == 1


def test_a_huge_coco_attribute_is_not_read(tmp_path):
    ann = [
        {
            "id": 1,
            "image_id": 1,
            "category_id": 1,
            "bbox": [1, 1, 10, 10],
            "attributes": {"n": 2**70, "ok": 3},
        }
    ]
    ds = load_dataset(coco_file(tmp_path / "coco", coco_doc(ann), {"a.jpg": jpeg_bytes(60, 40)}))
    assert "'n'" in one_issue(ds, "attribute_ignored").message
    assert ds["a"].attributes["ok"].tolist() == [3] and "n" not in ds["a"].attributes


def test_non_utf8_lines_are_named_by_file_and_line(tmp_path):
    # VOC: ImageSets/Main/train.txt with one bad line among good ones.
    root = voc_dataset(tmp_path / "voc", (60, 40), jpeg_bytes(60, 40))
    (root / "ImageSets/Main").mkdir(parents=True)
    (root / "ImageSets/Main/train.txt").write_bytes(b"a\n\xff\xfe bad\n")
    ds = load_dataset(root)
    issue = one_issue(ds, "split_unreadable")
    assert (issue.path, issue.location) == ("ImageSets/Main/train.txt", "line 2")
    assert ds.splits["train"] == ("a",)
    # VOC: labels.txt, the class order, cannot be guessed: an error naming the line.
    (root / "labels.txt").write_bytes(b"thing\n\xc3\x28\n")
    with pytest.raises(DatasetFormatError, match=r"labels.txt.*line 2"):
        load_dataset(root)
    # YOLO: a split list and a label file with a bad line.
    yroot = tmp_path / "yolo"
    yaml_file = yolo_dataset(yroot, {"a.jpg": jpeg_bytes(60, 40)}, {})
    (yroot / "labels/train/a.txt").write_bytes(b"0 0.5 0.5 0.2 0.2\n\xff\n0 0.3 0.3 0.1 0.1\n")
    (yroot / "train.txt").write_bytes(b"./images/train/a.jpg\n\xff\xfe\n")
    (yroot / "data.yaml").write_text("train: train.txt\nnames: [thing]\n")
    ds = load_dataset(yaml_file)
    listed = one_issue(ds, "split_unreadable")
    assert (listed.path, listed.location) == ("train.txt", "line 2")
    label = one_issue(ds, "label_unreadable")
    assert (label.path, label.location) == ("labels/train/a.txt", "line 2")
    assert len(ds["a"]) == 2  # the good lines load


# -- 11. background images ----------------------------------------------------------------------


def test_an_image_without_a_label_file_is_one_note(tmp_path):
    yaml_file = yolo_dataset(
        tmp_path / "yolo",
        {"a.jpg": jpeg_bytes(60, 40), "bg.jpg": jpeg_bytes(60, 40, seed=6)},
        {"a": "0 0.5 0.5 0.2 0.2\n"},
    )
    ds = load_dataset(yaml_file, strict=True)  # a correct dataset passes strict loading
    note = one_issue(ds, "label_missing")
    assert (note.severity, note.image_id) == (Severity.INFO, "bg")


# -- 12. missing keys ------------------------------------------------------------------------------


def test_a_coco_file_without_images_names_the_key(tmp_path):
    doc = coco_doc([])
    del doc["images"]
    file = coco_file(tmp_path / "coco", doc)
    assert detect_format(file) == "coco"
    with pytest.raises(DatasetFormatError) as err:
        load_dataset(file)
    assert "instances_train.json" in str(err.value) and "'images' missing" in str(err.value)


def test_a_data_yaml_without_names_names_the_key(tmp_path):
    root = tmp_path / "yolo"
    yolo_dataset(root, {"a.jpg": jpeg_bytes(60, 40)}, {"a": ""})
    (root / "data.yaml").write_text("train: images/train\nval: images/train\n")
    for path in (root / "data.yaml", root):
        with pytest.raises(DatasetFormatError) as err:
            load_dataset(path)
        assert "data.yaml" in str(err.value) and "no 'names'" in str(err.value)
        assert "'train'" in str(err.value)


# -- 13. decompression bombs --------------------------------------------------------------------


@pytest.mark.parametrize("side", [20_000, 30_000], ids=["warning zone", "error zone"])
def test_a_decompression_bomb_is_our_image_too_large(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning must not leak
        with pytest.raises(ImageReadError) as err:
            probe_image(path)
    assert err.value.code == "image_too_large"
    assert f"{side * side} pixels" in err.value.reason and str(MAX_PIXELS) in err.value.reason
