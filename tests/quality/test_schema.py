"""Schema inference on hand-made datasets, and its YAML round trip and editing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yolops.data.dataset import Dataset, ImageRecord
from yolops.errors import ConfigError
from yolops.quality.schema import Range, Schema, SchemaConfig, infer_schema

RNG = np.random.default_rng(0)


def _dataset(n_images: int = 50) -> Dataset:
    """Cats 20..40 px square-ish, dogs 60..100 px wide and 30..50 px tall; 1..4 boxes."""
    records = []
    for i in range(n_images):
        n = 1 + i % 4
        classes = np.array([(i + k) % 2 for k in range(n)], np.int64)
        w = np.where(classes == 0, RNG.uniform(20, 40, n), RNG.uniform(60, 100, n))
        h = np.where(classes == 0, w * RNG.uniform(0.9, 1.1, n), RNG.uniform(30, 50, n))
        x, y = RNG.uniform(0, 100, n), RNG.uniform(0, 100, n)
        boxes = np.stack([x, y, x + w, y + h], axis=1)
        records.append(ImageRecord(f"im{i}", f"/nowhere/im{i}.png", 320, 240, boxes, classes))
    return Dataset(records, ["cat", "dog"], name="pets")


INFO = {f"im{i}": ("PNG", "RGB") for i in range(50)}


def test_infer_schema_ranges_cover_the_data_and_are_widened():
    ds = _dataset()
    schema = infer_schema(ds, SchemaConfig(margin=0.25), image_info=INFO)
    assert schema.class_names == ("cat", "dog")
    assert schema.image_formats == ("PNG",) and schema.image_modes == ("RGB",)
    assert schema.image_width == Range(256.0, 400.0)  # 320 / 1.25, 320 x 1.25
    assert (
        schema.boxes_per_image.low == 0 and schema.boxes_per_image.high == 5
    )  # floor(1/1.25), ceil(4 x 1.25)
    cat, dog = schema.classes["cat"], schema.classes["dog"]
    assert cat.share + dog.share == pytest.approx(1.0)
    # widths: cats 20..40, dogs 60..100; the range holds p1..p99 and reaches past them
    assert 20 / 1.25 - 1 < cat.width.low < 20 and 40 < cat.width.high < 40 * 1.25 + 1
    assert 60 / 1.25 - 1 < dog.width.low < 60 and 100 < dog.width.high < 100 * 1.25 + 1
    assert dog.aspect.low > 60 / 50 / 1.25 - 0.1 and dog.aspect.high < 100 / 30 * 1.25 + 0.1
    assert 30 not in dog.height or 29 in dog.height  # a plain containment test works
    assert 10 not in cat.width and 45 in cat.width


def test_one_outlier_does_not_move_the_range():
    ds = _dataset(200)
    outlier = ImageRecord("big", "/nowhere/big.png", 320, 240, [[0, 0, 300, 30]], [0])
    with_outlier = Dataset([*ds.records, outlier], ds.class_names)
    info = {**{f"im{i}": ("PNG", "RGB") for i in range(200)}, "big": ("PNG", "RGB")}
    schema = infer_schema(with_outlier, image_info=info)
    assert 300 not in schema.classes["cat"].width  # p99 ignores the one 300 px cat


def test_yaml_round_trip_is_exact_and_readable(tmp_path):
    schema = infer_schema(_dataset(), image_info=INFO)
    path = schema.save(tmp_path / "schema.yaml")
    text = path.read_text()
    assert text.startswith("# yolops dataset schema")
    assert "width: [256, 400]" in text  # ranges read as [low, high]
    assert Schema.load(path) == schema


def test_a_hand_edited_schema_loads_with_the_edit(tmp_path):
    schema = infer_schema(_dataset(), image_info=INFO)
    text = schema.to_yaml().replace("boxes_per_image: [0, 5]", "boxes_per_image: [1, .inf]")
    (tmp_path / "s.yaml").write_text(text)
    edited = Schema.load(tmp_path / "s.yaml")
    assert edited.boxes_per_image == Range(1.0, math.inf)
    assert 1000 in edited.boxes_per_image and 0 not in edited.boxes_per_image


@pytest.mark.parametrize(
    "change, message",
    [
        (("version: 1", "version: 7"), "version"),
        (("boxes_per_image: [0, 5]", "boxes_per_image: [9, 2]"), "low 9.0 > high 2.0"),
        (("boxes_per_image: [0, 5]", "boxes_per_image: lots"), "boxes_per_image must be a list"),
        (("images:", "imagez:"), "missing or malformed entry"),
    ],
)
def test_broken_schema_files_raise_config_errors_naming_the_file(tmp_path, change, message):
    text = infer_schema(_dataset(), image_info=INFO).to_yaml().replace(*change)
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as e:
        Schema.load(path)
    assert str(path) in str(e.value)


def test_formats_and_modes_come_from_the_image_headers(tiny_dataset):
    schema = infer_schema(tiny_dataset)
    assert schema.image_formats == ("PNG",) and schema.image_modes == ("RGB",)
    assert schema.image_width.low <= 64 and 80 <= schema.image_width.high


def test_empty_dataset_gives_unbounded_ranges():
    schema = infer_schema(Dataset([], ["a"]), image_info={})
    assert schema.boxes_per_image == Range(0.0, math.inf)
    assert schema.classes["a"].share == 0.0
    assert Schema.from_dict(schema.to_dict()) == schema
