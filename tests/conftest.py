"""Shared fixtures: the real BCCD data set (skipped when absent), tiny generated
datasets of PNG images, for the tracking and serving tests a migrated MLflow
database to copy into fresh workspaces and one untracked training to log into them,
and headless Chromium for browser tests. With CI=true, a skipped test fails unless
the reason is the absent BCCD data set (see ``pytest_runtest_makereport``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from yolops.data.dataset import Dataset, ImageRecord
from yolops.device import cpu_count
from yolops.workspace import Workspace

from track_support import tiny_config

BCCD_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "bccd"
# The start of the one skip reason CI allows: the BCCD data set is not in the repository.
BCCD_MISSING = "BCCD dataset not found at"
TINY_CLASSES = ("cat", "dog", "bird")


# -- parallel: one worker per usable core, one torch thread per worker -----------------------


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (addopts): the cores this process may use, as yolops counts them."""
    return cpu_count()


if os.environ.get("PYTEST_XDIST_WORKER"):
    # Workers already use every core between them: more threads each would only fight
    # for the cores (and spin-wait, under load). Subprocesses inherit the variable.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


# -- CI: a missing tool is a failure, not a skip ---------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    """The reason a report was skipped with: skip marks, ``pytest.skip()`` in a test or
    fixture, ``importorskip`` and ``unittest.SkipTest`` all leave (path, line, reason)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_skip_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    """With CI=true, turn a skip (not an xfail) into a failure that names its reason,
    unless the BCCD data set is what is missing."""
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci():
        return
    reason = _skip_reason(report)
    if reason.startswith(BCCD_MISSING):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI (CI=true), where every tool must be installed: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Skips in setup (marks, fixtures) and in the test body."""
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    """Skips while collecting (a module-level ``importorskip`` or ``pytest.skip``); in CI
    they become collection errors, which stop the run."""
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _tracking_stays_in_tmp(tmp_path_factory):
    """Commands that track (train, val, sweep) write into a workspace: in tests, a
    temporary one, never ./yolops-workspace or a tracking server from the shell.
    Set in os.environ (session-wide) so that module fixtures and subprocesses see it."""
    saved = {k: os.environ.get(k) for k in ("YOLOPS_HOME", "MLFLOW_TRACKING_URI")}
    os.environ["YOLOPS_HOME"] = str(tmp_path_factory.mktemp("yolops-home"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """A migrated MLflow database (creating one takes seconds; ``new_workspace`` copies it)."""
    root = tmp_path_factory.mktemp("mlflow-template")
    Workspace.resolve(root, tracking_uri=None).prepare()
    return root / "mlflow.db"


@pytest.fixture(scope="session")
def shapes_yaml(tmp_path_factory) -> Path:
    """12 generated images (8 train, 4 val), YOLO format."""
    from yolops.data.synth import SynthConfig, generate_to

    root = tmp_path_factory.mktemp("shapes")
    config = SynthConfig(
        num_images=12,
        image_size=(96, 64),
        max_objects=2,
        min_size=16,
        max_size=32,
        splits={"train": 0.67, "val": 0.33},
        seed=3,
    )
    return generate_to(root / "data", "yolo", config)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, shapes_yaml) -> Path:
    """The run folder of one untracked 2-epoch training."""
    from yolops.train.trainer import train

    project = tmp_path_factory.mktemp("trained")
    return train(tiny_config(shapes_yaml, project)).run_dir


@pytest.fixture(scope="session")
def bccd_root() -> Path:
    """The BCCD dataset (Pascal VOC): env ``YOLOPS_BCCD``, else ../shared/datasets/bccd."""
    root = Path(os.environ.get("YOLOPS_BCCD") or BCCD_DEFAULT)
    if not (root / "Annotations").is_dir():
        pytest.skip(f"{BCCD_MISSING} {root} (set YOLOPS_BCCD to its folder)")
    return root


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright, one per test module (see
    browser_support). Skips when either is missing; CI fails such a skip."""
    import browser_support

    if why := browser_support.missing():
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_support.chromium_path(),
            args=list(browser_support.CHROMIUM_ARGS),
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A fresh page in its own browser context, with its errors collected
    (``browser_support.BrowserPage``: ``.page``, ``.errors``)."""
    import browser_support

    context = chromium.new_context()
    try:
        yield browser_support.watch(context.new_page())
    finally:
        context.close()


def write_image(path: Path, width: int, height: int, value: int = 128) -> Path:
    """A solid-colour image of ``width`` x ``height`` pixels at ``path`` (PNG, or JPEG
    for a .jpg name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (value, value // 2, 255 - value)).save(path)
    return path


def _tiny_boxes(index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """0..3 boxes, deterministic: fractional corners, one touching the border."""
    n = index % 4
    boxes = [
        (2.25 + index, 3.5, 20.75 + index, 17.0),
        (0.0, 0.0, width / 2, height / 3),
        (width - 11.5, height - 9.0, float(width), float(height)),
    ][:n]
    classes = [(index + k) % len(TINY_CLASSES) for k in range(n)]
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64)


@pytest.fixture
def make_tiny_dataset(tmp_path: Path) -> Callable[..., Dataset]:
    """A factory for small labelled datasets of PNG images written under ``root``
    (default ``tmp_path/source``): two image sizes, 0..3 boxes per image with
    fractional coordinates, classes cat/dog/bird, splits train/val/test and one image
    in no split; the last image's id sits in a subfolder (``sub/img_N``). ``suffix``
    ".jpg" makes JPEG images instead."""

    def make(root: Path | None = None, num_images: int = 7, suffix: str = ".png") -> Dataset:
        root = Path(root or tmp_path / "source")
        records = []
        for i in range(num_images):
            width, height = (64, 48) if i % 2 == 0 else (80, 60)
            image_id = f"sub/img_{i}" if i == num_images - 1 else f"img_{i}"
            path = write_image(root / "images" / f"{image_id}{suffix}", width, height, 40 * i % 256)
            boxes, classes = _tiny_boxes(i, width, height)
            records.append(ImageRecord(image_id, path, width, height, boxes, classes))
        ids = [r.id for r in records]
        splits = {"train": ids[0:3], "val": ids[3:5], "test": ids[5:6]}
        # ids[6:] stay in no split
        return Dataset(records, TINY_CLASSES, splits, name="tiny", root=root)

    return make


@pytest.fixture
def tiny_dataset(make_tiny_dataset) -> Dataset:
    """Seven images (see ``make_tiny_dataset``)."""
    return make_tiny_dataset()


@pytest.fixture
def break_image() -> Callable[[Path, str], Path]:
    """Spoil an image file in place: ``garbage`` (a JPEG/PNG signature then noise),
    ``truncated`` (the last 16 bytes cut, end marker included) or ``text`` (a text
    file under the image's name)."""

    def spoil(path: Path, how: str) -> Path:
        data = path.read_bytes()
        if how == "garbage":
            noise = np.random.default_rng(0).integers(0, 256, len(data), np.uint8).tobytes()
            path.write_bytes(data[:2] + noise)
        elif how == "truncated":
            path.write_bytes(data[:-16])
        elif how == "text":
            path.write_text("this is not an image\n")
        else:
            raise ValueError(how)
        return path

    return spoil


@pytest.fixture
def assert_same_labels() -> Callable[[Dataset, Dataset], None]:
    """A check that two datasets hold the same images (id, size), boxes (to 1e-3 px),
    classes (by name), splits and class order."""

    def check(expected: Dataset, actual: Dataset, atol: float = 1e-3) -> None:
        assert actual.class_names == expected.class_names
        assert sorted(actual.ids) == sorted(expected.ids)
        assert {k: sorted(v) for k, v in actual.splits.items() if v} == {
            k: sorted(v) for k, v in expected.splits.items() if v
        }
        for e in expected:
            a = actual[e.id]
            assert (a.width, a.height) == (e.width, e.height), e.id
            assert a.boxes.shape == e.boxes.shape, e.id
            np.testing.assert_allclose(a.boxes, e.boxes, atol=atol, rtol=0, err_msg=e.id)
            np.testing.assert_array_equal(a.classes, e.classes, err_msg=e.id)

    return check
