"""Generated shapes datasets: determinism, exact boxes, honest occlusion, splits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from yolops.data.images import probe_image, read_image
from yolops.data.synth import SynthConfig, generate, generate_to, render_scene
from yolops.errors import ConfigError, DatasetFormatError, YolopsError

SMALL = SynthConfig(num_images=8, image_size=(160, 120), max_size=48)


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "images").iterdir())}


def test_same_seed_same_bytes_and_boxes(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", SMALL)
    b = generate(tmp_path / "b", SMALL)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert [r.id for r in a] == [r.id for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert np.array_equal(ra.boxes, rb.boxes) and np.array_equal(ra.classes, rb.classes)
    assert a.splits == b.splits
    generate(tmp_path / "c", replace(SMALL, seed=1))
    assert _files(tmp_path / "c") != _files(tmp_path / "a")


def test_image_does_not_depend_on_num_images(tmp_path: Path) -> None:
    generate(tmp_path / "few", SynthConfig(num_images=3, image_size=(160, 120), max_size=48))
    generate(tmp_path / "many", SMALL)
    few, many = _files(tmp_path / "few"), _files(tmp_path / "many")
    assert few == {k: many[k] for k in few}


def test_records_match_files_and_stay_inside(tmp_path: Path) -> None:
    config = SynthConfig(num_images=12, image_size=(160, 120), size_jitter=0.2, max_size=40)
    ds = generate(tmp_path, config)
    assert ds.name == "shapes" and ds.root == tmp_path.absolute()
    assert ds.class_names == ("circle", "square", "triangle")
    assert len({(r.width, r.height) for r in ds}) > 1  # jitter varies the size
    for r in ds:
        info = probe_image(r.path)
        assert (info.width, info.height, info.format) == (r.width, r.height, "PNG")
        assert 128 <= r.width <= 192 and 96 <= r.height <= 144
        assert config.min_objects <= len(r) <= config.max_objects
        assert r.boxes.dtype == np.float32 and r.classes.dtype == np.int64
        x1, y1, x2, y2 = r.boxes.T
        assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= r.width) & (y2 <= r.height))
        assert np.all((x2 > x1) & (y2 > y1)) and np.array_equal(r.boxes, np.round(r.boxes))


def test_boxes_are_the_drawn_extent(tmp_path: Path) -> None:
    """Without noise, clutter or overlap an object is the only region of its flat
    colour (backgrounds are unsaturated), so its pixels give the true box."""
    config = SynthConfig(
        num_images=15,
        image_size=(160, 120),
        max_size=60,
        min_objects=1,
        max_objects=1,
        noise=0.0,
        clutter=False,
        occlusion=False,
    )
    ds = generate(tmp_path, config)
    seen = set()
    for r in ds:
        image = read_image(r.path)
        (box,), (cls,) = r.boxes.astype(int), r.classes
        x1, y1, x2, y2 = box
        crop = image[y1:y2, x1:x2].reshape(-1, 3)
        colours, counts = np.unique(crop, axis=0, return_counts=True)
        colour = colours[np.argmax(counts)]
        ys, xs = np.nonzero(np.all(image == colour, axis=2))
        assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == [x1, y1, x2, y2], r.id
        name = ds.class_names[cls]
        seen.add(name)
        if name == "square":
            assert len(xs) == (x2 - x1) * (y2 - y1)  # fills its box
        if name == "circle":
            assert x2 - x1 == y2 - y1
    assert seen == {"circle", "square", "triangle"}


def test_occlusion_leaves_every_object_mostly_visible() -> None:
    # Crowded: many big objects in a small image, so objects must overlap.
    config = SynthConfig(
        image_size=(96, 96), min_objects=6, max_objects=6, min_size=40, max_size=64
    )
    visible = []
    for i in range(20):
        scene = render_scene(np.random.default_rng(i), 96, 96, config)
        assert len(scene.visible) == len(scene.boxes) >= 1
        visible.extend(scene.visible)
    visible = np.array(visible)
    assert visible.min() >= 1 - config.max_hidden
    assert visible.min() < 0.9  # some objects really are partly hidden
    apart = replace(config, occlusion=False)
    for i in range(20):
        assert np.all(render_scene(np.random.default_rng(i), 96, 96, apart).visible == 1)


def test_empty_images_still_get_clutter() -> None:
    config = SynthConfig(min_objects=0, max_objects=0, noise=0.0)
    scene = render_scene(np.random.default_rng(0), 160, 120, config)
    assert scene.image.shape == (120, 160, 3) and scene.image.dtype == np.uint8
    assert len(scene.boxes) == 0 and scene.boxes.shape == (0, 4)


def test_splits_cover_all_images(tmp_path: Path) -> None:
    ds = generate(tmp_path, SynthConfig(num_images=20, image_size=(96, 96), max_size=32))
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 14, "val": 4, "test": 2}
    assert sorted(i for ids in ds.splits.values() for i in ids) == sorted(ds.ids)


def test_class_subset_and_jpeg(tmp_path: Path) -> None:
    config = SynthConfig(
        num_images=4, image_size=(96, 96), max_size=32, classes=("square",), image_format="jpg"
    )
    ds = generate(tmp_path, config)
    assert ds.class_names == ("square",)
    assert all(r.path.suffix == ".jpg" and probe_image(r.path).format == "JPEG" for r in ds)
    assert all(np.all(r.classes == 0) for r in ds)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_size": 200},  # larger than the 160x120 image
        {"image_size": (160, 120), "size_jitter": 0.5, "max_size": 96},  # 60 px high at worst
        {"classes": ("circle", "hexagon")},
        {"min_objects": 3, "max_objects": 2},
        {"image_format": "gif"},
        {"max_hidden": 1.0},
        {"splits": {"train": -0.5, "val": 1.0}},
    ],
)
def test_bad_config_is_refused(changes: dict) -> None:
    with pytest.raises(ConfigError, match="SynthConfig"):
        SynthConfig(**{"image_size": (160, 120), **changes})


def test_bad_config_lists_every_problem() -> None:
    with pytest.raises(ConfigError, match="max_size 200.*image_format"):
        SynthConfig(image_size=(160, 120), max_size=200, image_format="gif")


def test_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "old.png").write_bytes(b"x")
    with pytest.raises(YolopsError, match="not empty"):
        generate(tmp_path, SMALL)


def test_generate_to_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="unknown format"):
        generate_to(tmp_path / "out", "pascal", SMALL)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_generate_to_round_trips(tmp_path: Path, fmt: str) -> None:
    from yolops.data.dataset import load_dataset

    out = generate_to(tmp_path / fmt, fmt, SMALL)
    loaded = load_dataset(out, format=fmt, strict=True)
    expected = generate(tmp_path / "ref", SMALL)
    assert loaded.class_names == expected.class_names
    assert len(loaded) == len(expected) and loaded.num_boxes == expected.num_boxes
    for got, want in zip(sorted(loaded, key=_stem), sorted(expected, key=_stem), strict=True):
        assert (_stem(got), got.width, got.height) == (_stem(want), want.width, want.height)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=0.01)
        assert np.array_equal(got.classes, want.classes)


def _stem(record) -> str:
    return record.path.stem


def test_generate_to_hands_a_live_dataset_to_the_writer(tmp_path: Path, monkeypatch) -> None:
    import yolops.data.formats as formats

    calls = []

    def fake_save(dataset, out, format):
        # The staging images must still exist while the writer copies them.
        assert all(r.path.is_file() for r in dataset)
        calls.append((len(dataset), Path(out), format, dataset.root))
        return Path(out)

    monkeypatch.setattr(formats, "write", fake_save)
    assert generate_to(tmp_path / "out", "coco", SMALL) == tmp_path / "out"
    ((n, out, fmt, staging),) = calls
    assert (n, out, fmt) == (8, tmp_path / "out", "coco")
    assert not staging.exists()  # the staging folder is cleaned up
