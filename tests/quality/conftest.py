"""Fixtures of the data-quality tests: generated shapes, the same with known defects
planted, and hand-made datasets whose images need not exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.synth import SynthConfig, generate
from yolops.quality.plant import CHECK_KINDS, PlantedDefect, plant_defects


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Dataset:
    """120 generated 320x240 images of shapes, clean, split train/val/test."""
    return generate(tmp_path_factory.mktemp("shapes"), SynthConfig(num_images=120, seed=3))


@pytest.fixture(scope="session")
def planted(shapes, tmp_path_factory) -> tuple[Dataset, list[PlantedDefect]]:
    """``shapes`` with 3 defects of every kind the checks can find, and the truth."""
    return plant_defects(
        shapes, tmp_path_factory.mktemp("planted"), seed=0, per_kind=3, kinds=CHECK_KINDS
    )


@pytest.fixture
def annotations() -> Callable[..., Dataset]:
    """A dataset from ``{image id: [(x1, y1, x2, y2, class), ...]}``: 100x80 images at
    made-up paths (annotation checks never read them), classes a/b/c, and splits
    given as ``{split: [ids]}``."""

    def make(
        boxes: dict[str, Sequence[tuple]],
        splits: dict | None = None,
        class_names: Sequence[str] = ("a", "b", "c"),
        size: tuple[int, int] = (100, 80),
    ) -> Dataset:
        records = []
        for image_id, rows in boxes.items():
            rows = np.array(rows, np.float32).reshape(-1, 5)
            records.append(
                ImageRecord(
                    image_id,
                    f"/nowhere/{image_id}.png",
                    *size,
                    rows[:, :4],
                    rows[:, 4].astype(np.int64),
                )
            )
        return Dataset(records, class_names, splits=splits, name="hand", root="/nowhere")

    return make
