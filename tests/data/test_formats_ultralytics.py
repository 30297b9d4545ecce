"""YOLO data YAMLs as Ultralytics reads them and Roboflow exports them: the root a
relative ``path`` names, ``../`` split paths, .txt lists, dict names, refused paths
(an error, and the CLI exits non-zero) and the YAML yolops writes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from yolops.data.dataset import Dataset, load_dataset, save_dataset
from yolops.data.formats import detect_format, yolo
from yolops.errors import DatasetFormatError
from yolops.issues import Severity

from cli_support import invoke, run_cli
from issue_support import issues_with

NAMES = "names: [cat, dog, bird]\n"
# What Roboflow writes for "YOLOv8" / "YOLOv11" exports (its own key included).
ROBOFLOW_YAML = """\
train: ../train/images
val: ../valid/images
test: ../test/images

nc: 3
names: ['cat', 'dog', 'bird']

roboflow:
  workspace: acme
  project: pets
  version: 2
  license: CC BY 4.0
  url: https://universe.roboflow.com/acme/pets/dataset/2
"""
ROBOFLOW_FOLDERS = {"train": "train", "val": "valid", "test": "test"}


@pytest.fixture
def split_only(tiny_dataset) -> Dataset:
    """The tiny dataset without its image in no split (Roboflow has no such images)."""
    return tiny_dataset.filter(lambda r: tiny_dataset.split_of(r.id) is not None)


@pytest.fixture
def roboflow(split_only, tmp_path) -> Path:
    """A Roboflow export of ``split_only``: ``data.yaml`` beside ``train/images``,
    ``train/labels``, ``valid/...``, ``test/...``, and Roboflow's READMEs."""
    root = tmp_path / "pets.v2i.yolov8"
    for split, folder in ROBOFLOW_FOLDERS.items():
        (root / folder / "images").mkdir(parents=True)
        (root / folder / "labels").mkdir(parents=True)
        for image_id in split_only.splits[split]:
            r = split_only[image_id]
            shutil.copy2(r.path, root / folder / "images" / r.path.name)
            lines = [
                yolo.xyxy_to_yolo_line(b, c, r.width, r.height) + "\n"
                for b, c in zip(r.boxes, r.classes)
            ]
            (root / folder / "labels" / f"{r.path.stem}.txt").write_text("".join(lines))
    (root / "data.yaml").write_text(ROBOFLOW_YAML)
    (root / "README.roboflow.txt").write_text("Exported via roboflow.com\n")
    (root / "README.dataset.txt").write_text("# pets\n")
    return root


@pytest.fixture
def written(tiny_dataset, tmp_path) -> Path:
    """The tiny dataset saved as YOLO under ``tmp_path/yolo``; the data.yaml path."""
    return save_dataset(tiny_dataset, tmp_path / "yolo", "yolo")


# -- the layout Roboflow exports ----------------------------------------------------------


def test_roboflow_export_loads_as_it_is(roboflow, split_only, assert_same_labels):
    for source in (roboflow, roboflow / "data.yaml"):
        assert detect_format(source) == "yolo"
        ds = load_dataset(source, strict=True)  # notes only: strict mode accepts them
        assert_same_labels(split_only, ds)
        assert {k: len(v) for k, v in ds.splits.items()} == {"train": 3, "val": 2, "test": 1}
        assert ds.root == roboflow and ds["img_3"].path == roboflow / "valid/images/img_3.png"
        notes = issues_with(ds, "split_path_stripped")
        assert [(i.severity, i.path, i.location) for i in notes] == [
            (Severity.INFO, "data.yaml", split) for split in ("train", "val", "test")
        ]
        assert "'../valid/images'" in notes[1].message and "read valid/images" in notes[1].message
        assert len(ds.issues) == 3


def test_roboflow_export_through_the_cli(roboflow, capsys):
    done = invoke(capsys, "data", "stats", roboflow, "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["images"] == 6 and stats["class_names"] == ["cat", "dog", "bird"]
    assert stats["images_per_split"] == {"train": 3, "val": 2, "test": 1}


def test_a_folder_outside_the_root_is_never_read(roboflow, tmp_path, write_outside_image):
    # ../train/images exists beside the export: Ultralytics would read that one.
    write_outside_image(tmp_path / "train/images/stray.png")
    ds = load_dataset(roboflow)
    assert "stray" not in ds and sorted(ds.splits["train"]) == ["img_0", "img_1", "img_2"]
    (warning,) = issues_with(ds, "split_path_outside_root")
    assert (warning.severity, warning.location) == (Severity.WARNING, "train")
    assert str(tmp_path / "train/images") in warning.message
    assert "read train/images" in warning.message


def test_an_export_without_test_images_warns(roboflow, capsys):
    # Roboflow names test/ in data.yaml whether or not the export has one.
    shutil.rmtree(roboflow / "test")
    ds = load_dataset(roboflow)
    (missing,) = issues_with(ds, "split_missing")
    assert (missing.severity, missing.location) == (Severity.WARNING, "test")
    assert missing.message == (
        f"test path '../test/images' does not exist: neither {roboflow.parent / 'test/images'} "
        f"nor {roboflow / 'test/images'}; split not read"
    )
    assert ds.splits["test"] == () and len(ds) == 5
    code, out = run_cli(capsys, "data", "stats", roboflow)
    assert code == 0 and "split_missing" in out


def test_the_dotdot_fallback_is_for_one_path_not_a_list(roboflow):
    # As in Ultralytics: a list's entries are taken as written.
    text = ROBOFLOW_YAML.replace("val: ../valid/images", "val: [../valid/images]")
    (roboflow / "data.yaml").write_text(text)
    ds = load_dataset(roboflow)
    (refused,) = issues_with(ds, "path_escapes_root")
    assert (refused.severity, refused.path, refused.location) == (
        Severity.ERROR,
        "data.yaml",
        "val",
    )
    assert "'../valid/images' leaves the dataset root" in refused.message
    assert ds.splits["val"] == () and len(ds.splits["train"]) == 3


# -- the root a relative path names ------------------------------------------------------


def test_relative_path_from_the_working_directory(written, tmp_path, monkeypatch):
    config = tmp_path / "configs/pets.yaml"  # a YAML kept apart from its data
    config.parent.mkdir()
    config.write_text("path: yolo\ntrain: images/train\nval: images/val\n" + NAMES)
    monkeypatch.chdir(tmp_path)
    ds = load_dataset(config)
    assert ds.root == written.parent and not ds.issues
    assert sorted(ds.splits["train"]) == ["img_0", "img_1", "img_2"] and len(ds) == 5


def test_relative_path_from_the_yaml_folder(written, tmp_path, monkeypatch):
    config = tmp_path / "pets.yaml"
    config.write_text("path: yolo\ntrain: images/train\nval: images/val\n" + NAMES)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # holds no "yolo" folder
    ds = load_dataset(config)
    assert ds.root == written.parent and not ds.issues and len(ds) == 5


def test_the_working_directory_wins_when_both_hold_the_data(written, tmp_path, monkeypatch):
    copy = tmp_path / "copy/yolo"
    shutil.copytree(written.parent, copy)
    config = tmp_path / "pets.yaml"
    config.write_text("path: yolo\ntrain: images/train\nval: images/val\n" + NAMES)
    monkeypatch.chdir(tmp_path / "copy")
    ds = load_dataset(config)
    assert ds.root == copy and ds["img_0"].path == copy / "images/train/img_0.png"
    (note,) = ds.issues
    assert (note.code, note.severity, note.location) == ("dataset_root", Severity.INFO, "path")
    assert f"read as {copy} (from the working directory)" in note.message
    assert f"{written.parent} (from the YAML's folder) exists too" in note.message


def test_path_dot_loads_from_any_working_directory(written, tmp_path, monkeypatch):
    # Ultralytics reads "path: ." from the working directory; yolops wrote it so before.
    written.write_text("path: .\ntrain: images/train\nval: images/val\n" + NAMES)
    monkeypatch.chdir(tmp_path)  # holds none of the splits
    ds = load_dataset(written)
    assert ds.root == written.parent and len(ds) == 5
    (note,) = issues_with(ds, "dataset_root")
    assert f"read as {written.parent} (from the YAML's folder)" in note.message
    assert "holds 0 of the split paths, against 2" in note.message
    monkeypatch.chdir(written.parent)  # one candidate only: nothing to note
    assert not load_dataset(written).issues


def test_absolute_path(written, tmp_path):
    config = tmp_path / "pets.yaml"
    config.write_text(f"path: {written.parent}\ntrain: images/train\n" + NAMES)
    ds = load_dataset(config)
    assert ds.root == written.parent and ds.ids == ["img_0", "img_1", "img_2"]


def test_a_path_naming_no_folder_is_an_error(written, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written.write_text("path: nowhere\ntrain: images/train\n" + NAMES)
    with pytest.raises(DatasetFormatError) as err:
        load_dataset(written)
    message = str(err.value)
    assert message.startswith(f"{written}: 'path' 'nowhere' names no folder")
    assert f"{tmp_path / 'nowhere'} (from the working directory)" in message
    assert f"{written.parent / 'nowhere'} (from the YAML's folder)" in message
    written.write_text(f"path: {tmp_path / 'gone'}\ntrain: images/train\n" + NAMES)
    with pytest.raises(DatasetFormatError, match="names no folder"):
        load_dataset(written)


# -- split paths, lists and names -------------------------------------------------------


def test_txt_lists_are_relative_to_their_folder(tiny_dataset, written):
    root = written.parent
    # Ultralytics' style: "./" is the list's folder; absolute lines inside the root load.
    (root / "images/train.txt").write_text(
        f"./train/img_0.png\n./train/img_1.png\n{root / 'images/train/img_2.png'}\n"
    )
    (root / "lists").mkdir()
    (root / "lists/val.txt").write_text("../images/val/img_3.png\n")
    written.write_text(
        "train: images/train.txt\nval: lists/val.txt\ntest: images/test/img_5.png\n" + NAMES
    )
    ds = load_dataset(written, strict=True)
    assert ds.splits == {
        "train": ("img_0", "img_1", "img_2"),
        "val": ("img_3",),
        "test": ("img_5",),
    }
    for image_id in ("img_1", "img_3", "img_5"):
        np.testing.assert_allclose(ds[image_id].boxes, tiny_dataset[image_id].boxes, atol=1e-3)


def test_dict_names_in_any_order_and_no_nc(written):
    written.write_text("train: images/train\nnames: {2: bird, 0: cat, 1: dog}\n")
    ds = load_dataset(written)
    assert ds.class_names == ("cat", "dog", "bird") and not ds.issues
    assert ds["img_1"].classes.tolist() == [1]  # "dog", as written


# -- zero images: an error, and the CLI exits non-zero ---------------------------------------


ZERO_IMAGES = {
    "every split refused": (  # ../source/images: the tiny dataset's images, outside
        "train: ../source/images\nval: /etc\n",
        [
            "data.yaml (train): [error] path_escapes_root: train path '../source/images' "
            "leaves the dataset root",
            "'source/images' (tried as Ultralytics does) is not inside it",
            "data.yaml (val): [error] path_escapes_root: val path '/etc' leaves",
        ],
    ),
    "split folder missing": (
        "train: images/nowhere\n",
        ["data.yaml (train): [error] split_missing: train path 'images/nowhere' does not exist"],
    ),
    "split path of another kind": (
        "train: data.yaml\n",
        ["data.yaml (train): [error] split_invalid:", "is not a folder, a .txt list or an image"],
    ),
    "split folder empty": (
        "train: images/empty\n",
        ["data.yaml (train): [info] split_empty: train path 'images/empty'", "gave no images"],
    ),
    "no split at all": ("", ["names no split (train, val, test, unassigned)"]),
}


@pytest.mark.parametrize("case", ZERO_IMAGES)
def test_zero_images_is_an_error(written, capsys, case):
    text, expected = ZERO_IMAGES[case]
    (written.parent / "images/empty").mkdir()
    written.write_text(text + NAMES)
    with pytest.raises(DatasetFormatError) as err:
        load_dataset(written)
    message = str(err.value)
    assert message.startswith(f"{written}: no images loaded from the dataset root")
    assert all(words in message for words in expected), message
    code, out = run_cli(capsys, "data", "stats", written)
    assert code == 1 and "no images loaded" in out and "Traceback" not in out
    assert all(" ".join(words.split()) in out for words in expected), out


def test_images_all_unreadable_is_an_error(written, break_image):
    written.write_text("val: images/val\n" + NAMES)
    for image in (written.parent / "images/val").iterdir():
        break_image(image, "text")
    with pytest.raises(DatasetFormatError, match="image_unreadable"):
        load_dataset(written)


# -- the YAML yolops writes ---------------------------------------------------------------


def test_written_yaml_opens_in_ultralytics(written, tmp_path, monkeypatch):
    data = yaml.safe_load(written.read_text())
    # No "path": Ultralytics then takes the YAML's folder as root, from any directory.
    assert "path" not in data and {"train", "val", "names", "nc"} <= set(data)
    assert data["nc"] == len(data["names"]) == 3
    root = written.parent
    for split in ("train", "val", "test"):
        folder = root / data[split]
        images = sorted(folder.rglob("*.png"))
        assert images, split
        for image in images:  # Ultralytics' label path: the last /images/ -> /labels/
            head, _, tail = str(image).rpartition(f"{os.sep}images{os.sep}")
            label = Path(head, "labels", tail).with_suffix(".txt")
            assert label.is_file(), label
    monkeypatch.chdir(tmp_path)
    assert not load_dataset(written).issues  # and yolops reads it from anywhere


@pytest.fixture
def write_outside_image(tiny_dataset):
    """Copy one tiny image to a path outside any dataset root."""

    def write(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tiny_dataset["img_0"].path, path)
        return path

    return write
