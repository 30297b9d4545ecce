"""Dataset diffs: boxes matched before and after, images added, removed and changed,
boxes per class, and the HTML page with before/after pictures (in Chromium)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.diff import diff_datasets, match_boxes
from yolops.data.diff_html import write_diff_html
from yolops.data.synth import SynthConfig, generate
from yolops.data.versions import commit
from yolops.workspace import Workspace

from html_support import injected_attributes

A = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60], [70, 0, 90, 20]], np.float32)


def test_boxes_unchanged_moved_relabelled_added_and_removed():
    after = np.array(
        [
            [0, 0, 10, 10],  # the same box
            [21, 21, 41, 41],  # moved (same class, IoU 0.82)
            [50, 50, 60, 60.5],  # relabelled (other class, IoU 0.95)
            [100, 100, 120, 120],  # new
        ],
        np.float32,
    )
    changes = match_boxes(A, ["a", "b", "c", "d"], after, ["a", "b", "x", "d"])
    assert changes.moved == ((1, 1),)
    assert changes.relabelled == ((2, 2),)
    assert changes.removed == (3,) and changes.added == (3,)


def test_identical_boxes_in_another_order_are_unchanged():
    changes = match_boxes(A, list("abcd"), A[::-1].copy(), list("dcba"))
    assert not changes.any


def test_a_box_that_moved_too_far_is_removed_and_added():
    far = A[:1] + 100
    changes = match_boxes(A[:1], ["a"], far, ["a"])
    assert (changes.removed, changes.added, changes.moved) == ((0,), (0,), ())


@pytest.fixture
def pair(tmp_path) -> tuple[Dataset, Dataset]:
    before = generate(tmp_path / "before", SynthConfig(num_images=8, seed=2))
    first, second, third = before.ids[:3]
    after = before.filter(lambda r: r.id != first).map(
        lambda r: r.select(np.arange(len(r)) > 0) if r.id == second else r
    )
    splits = {k: [i for i in v if i in after] for k, v in before.splits.items()}
    old = next(k for k, v in splits.items() if third in v)
    new = "test" if old != "test" else "val"
    splits[old].remove(third)
    splits.setdefault(new, []).append(third)
    extra = generate(tmp_path / "extra", SynthConfig(num_images=1, seed=9))
    extra = extra.map(lambda r: r.replace(id="brand_new"))
    after = Dataset.merge([after.with_splits(splits), extra.with_splits({})], name="after")
    return before, after


def test_images_added_removed_and_changed_with_class_counts(pair):
    before, after = pair
    d = diff_datasets(before, after)
    first, second, third = before.ids[:3]
    assert [c.image_id for c in d.removed] == [first]
    assert [c.image_id for c in d.added] == ["brand_new"]
    changed = {c.image_id: c for c in d.changed}
    assert set(changed) == {second, third}
    assert len(changed[second].boxes.removed) == 1 and not changed[second].pixels
    assert changed[third].split is not None and not changed[third].boxes.any
    assert d.unchanged == len(before) - 3
    totals = d.box_totals()
    assert totals["removed"] == len(before[first]) + 1
    assert totals["added"] == len(after["brand_new"])
    counts = {c.name: (c.before, c.after) for c in d.classes}
    assert counts == {n: (before.class_counts()[n], after.class_counts().get(n, 0)) for n in counts}
    assert json.loads(json.dumps(d.to_dict()))["images"]["removed"] == [first]


def test_new_pixels_are_a_change_for_folders_and_versions(tmp_path):
    before = generate(tmp_path / "a", SynthConfig(num_images=3, seed=4))
    target = before.records[1]
    repainted = tmp_path / "repainted.png"
    repainted.write_bytes(target.path.read_bytes() + b"\0")
    after = before.map(lambda r: r.replace(path=repainted) if r.id == target.id else r)
    d = diff_datasets(before, after)
    assert [(c.image_id, c.pixels) for c in d.changed] == [(target.id, True)]
    ws = Workspace.resolve(tmp_path / "ws")
    commit(before, "a", "one", workspace=ws)
    commit(after, "a", "two", workspace=ws)
    d = diff_datasets(Dataset.load("a@v1", workspace=ws), Dataset.load("a@v2", workspace=ws))
    assert [(c.image_id, c.pixels) for c in d.changed] == [(target.id, True)]
    assert (d.before, d.after) == ("a@v1", "a@v2")


def test_the_same_dataset_has_an_empty_diff(pair):
    before, _ = pair
    assert diff_datasets(before, before).empty


def test_chromium_shows_every_changed_image_before_and_after(pair, tmp_path, browser_page):
    before, after = pair
    d = diff_datasets(before, after, before_name="shapes@v1", after_name="shapes@v2")
    path = write_diff_html(d, tmp_path / "diff.html")
    page = browser_page.page
    page.goto(path.as_uri(), wait_until="load")
    assert page.title() == "Dataset diff: shapes@v1 -> shapes@v2"
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({ok: i.complete && i.naturalWidth > 0}))"
    )
    # removed: before only; added: after only; changed: both
    assert len(images) == len(d.removed) + len(d.added) + 2 * len(d.changed)
    assert all(i["ok"] for i in images)
    assert page.locator(".change").count() == len(d.changes)
    assert browser_page.errors == []


def test_the_page_shows_at_most_limit_images(pair, tmp_path):
    before, after = pair
    d = diff_datasets(before, after)
    page = write_diff_html(d, tmp_path / "d.html", limit=1).read_text()
    assert page.count("class='change'") == 1 and "more changed images are not shown" in page


def test_a_class_name_and_a_file_name_that_are_markup_stay_text(tmp_path):
    """Issue 16, item 13: the page is a Jinja2 template with autoescape."""

    import cv2

    xss = "<img src=x onerror=alert(1)>"
    path = tmp_path / f"{xss}.png"
    cv2.imwrite(str(path), np.zeros((40, 60, 3), np.uint8))
    missing = tmp_path / f"{xss}-broken.png"  # unreadable: why is printed instead
    missing.write_bytes(b"not an image")
    before = Dataset(
        [
            ImageRecord(xss, path, 60, 40, [[5, 5, 30, 30]], [0]),
            ImageRecord(f"{xss}-broken", missing, 60, 40, [[5, 5, 30, 30]], [0]),
        ],
        [xss],
        name=xss,
    )
    after = before.map(lambda r: r.replace(boxes=np.array([[20, 5, 50, 30]], np.float32)))
    html = write_diff_html(
        diff_datasets(before, after, before_name=xss, after_name=xss), tmp_path / "d.html"
    ).read_text()
    assert xss not in html and "&lt;img src=x onerror=alert(1)&gt;" in html

    assert injected_attributes(html) == []
    assert html.count("class='change'") == 2
