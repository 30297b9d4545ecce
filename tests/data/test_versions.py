"""Dataset versions: commit, references, tags, exact round trips, storage once per
image, and a commit killed half way leaving no version."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from yolops.data.dataset import Dataset
from yolops.data.synth import SynthConfig, generate
from yolops.data.versions import commit, lineage, list_versions, parse_ref, resolve, tag
from yolops.errors import ConfigError, DatasetVersionError, UnknownDatasetError
from yolops.workspace import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.resolve(tmp_path / "ws")


@pytest.fixture
def shapes(tmp_path) -> Dataset:
    return generate(tmp_path / "shapes", SynthConfig(num_images=10, seed=1))


def objects(ws: Workspace) -> list[Path]:
    return [p for p in (ws.root / "objects").rglob("*") if p.is_file()]


def same_records(a: Dataset, b: Dataset) -> bool:
    by_id = {r.id: r for r in b}
    return len(a) == len(b) and all(r == by_id[r.id].replace(path=r.path) for r in a)


def test_a_version_gives_back_exactly_what_was_committed(ws, shapes):
    result = commit(shapes, "shapes", "first", workspace=ws)
    v = result.version
    assert (v.ref, v.parent, v.num_images, v.num_boxes) == ("shapes@v1", None, 10, shapes.num_boxes)
    assert result.created and result.stored.images == 10 and result.new_entries == 10
    loaded = Dataset.load("shapes@v1", workspace=ws)
    assert same_records(shapes, loaded)
    assert loaded.class_names == shapes.class_names
    assert {k: set(v) for k, v in loaded.splits.items()} == {
        k: set(v) for k, v in shapes.splits.items()
    }
    assert loaded.version.ref == "shapes@v1" and loaded.content_hash() == v.digest[:16]
    for record in loaded:  # the pixels are the committed bytes
        assert record.path.read_bytes() == shapes[record.id].path.read_bytes()


def test_an_unchanged_commit_makes_no_version(ws, shapes):
    commit(shapes, "shapes", "first", workspace=ws)
    again = commit(shapes, "shapes", "again", workspace=ws)
    assert not again.created and again.version.number == 1
    assert [v.number for v in list_versions(ws, "shapes")] == [1]


def test_a_change_stores_only_what_changed(ws, shapes, tmp_path):
    commit(shapes, "shapes", "first", workspace=ws)
    before = len(objects(ws))
    # One image's pixels change, one image loses a box, one is removed.
    first, second, third = shapes.ids[:3]
    repainted = tmp_path / "repainted.png"
    shutil.copy(shapes[first].path, repainted)
    with open(repainted, "ab") as f:
        f.write(b"\0")  # other bytes, same picture size
    edited = shapes.map(
        lambda r: (
            r.replace(path=repainted)
            if r.id == first
            else r.select(np.arange(len(r)) > 0)
            if r.id == second
            else r
        )
    ).filter(lambda r: r.id != third)
    result = commit(edited, "shapes", "second", workspace=ws)
    assert result.version.ref == "shapes@v2" and result.version.parent == 1
    assert result.stored.images == 1 and len(objects(ws)) == before + 1
    assert result.new_entries == 2  # the repainted image and the one that lost a box
    assert same_records(edited, Dataset.load("shapes", workspace=ws))
    assert same_records(shapes, Dataset.load("shapes@v1", workspace=ws))  # v1 is untouched


def test_the_digest_covers_the_pixels(ws, shapes, tmp_path):
    v1 = commit(shapes, "shapes", "first", workspace=ws).version
    target = shapes.records[0]
    changed = tmp_path / "changed.png"
    changed.write_bytes(target.path.read_bytes() + b"\0")
    repainted = shapes.map(lambda r: r.replace(path=changed) if r.id == target.id else r)
    v2 = commit(repainted, "shapes", "pixels only", workspace=ws).version
    assert v2.number == 2 and v2.digest != v1.digest


def test_references_tags_and_lineage(ws, shapes):
    commit(shapes, "shapes", "first", workspace=ws)
    commit(shapes.filter(lambda r: r.id != shapes.ids[0]), "shapes", "second", workspace=ws)
    assert tag(ws, "shapes@v1", "approved") is None
    assert resolve(ws, "shapes@approved").number == 1
    assert resolve(ws, "shapes").number == 2 and resolve(ws, "shapes@latest").number == 2
    moved_from = tag(ws, "shapes@v2", "approved")
    assert moved_from.number == 1 and resolve(ws, "shapes@approved").number == 2
    assert [v.ref for v in lineage(ws, "shapes@v2")] == ["shapes@v2", "shapes@v1"]
    assert list_versions(ws, "shapes")[1].tags == ("approved",)
    assert parse_ref("bccd") == ("bccd", "latest") and parse_ref("bccd@v3") == ("bccd", "v3")


def test_bad_references_and_names_are_clear_errors(ws, shapes):
    commit(shapes, "shapes", "first", workspace=ws)
    with pytest.raises(DatasetVersionError, match="has no version v9"):
        Dataset.load("shapes@v9", workspace=ws)
    with pytest.raises(DatasetVersionError, match="has no tag 'nope'"):
        resolve(ws, "shapes@nope")
    with pytest.raises(UnknownDatasetError, match="no such file or folder.*it has: shapes"):
        Dataset.load("missing", workspace=ws)
    for name in ("a b", "x@y", "latest", "-x", ""):
        with pytest.raises(ConfigError):
            commit(shapes, name, "m", workspace=ws)
    for bad_tag in ("v2", "latest", "a b"):
        with pytest.raises(ConfigError):
            tag(ws, "shapes@v1", bad_tag)
    with pytest.raises(ConfigError, match="message"):
        commit(shapes, "shapes", "  ", workspace=ws)


def test_a_path_wins_over_a_version_of_the_same_name(ws, shapes, tmp_path, monkeypatch):
    commit(shapes, "named", "first", workspace=ws)
    shapes.save(tmp_path / "named", "yolo")
    monkeypatch.chdir(tmp_path)
    assert Dataset.load("named", workspace=ws).version is None
    assert Dataset.load("named@v1", workspace=ws).version.ref == "named@v1"


def test_an_unreadable_image_stops_the_commit_with_its_name(ws, shapes):
    gone = shapes.records[3].path
    gone.unlink()
    with pytest.raises(Exception, match=gone.name):
        commit(shapes, "shapes", "first", workspace=ws)
    with pytest.raises(UnknownDatasetError):
        resolve(ws, "shapes")


def test_a_remote_object_store_through_fsspec(ws, shapes, monkeypatch):
    monkeypatch.setenv("YOLOPS_OBJECT_STORE", "memory://yolops-test-store")
    commit(shapes, "shapes", "first", workspace=ws)
    assert not (ws.root / "objects").exists()
    loaded = Dataset.load("shapes@v1", workspace=ws)
    assert all(ws.object_cache in r.path.parents for r in loaded)
    assert same_records(shapes, loaded)


CHILD = """
import sys, time
from sqlalchemy import event
from yolops.data.dataset import Dataset
from yolops.data import versions
from yolops.db import get_engine
from yolops.workspace import Workspace

ws = Workspace.resolve(sys.argv[1])
engine = get_engine(ws.database_url)

@event.listens_for(engine, "after_execute")
def hold(conn, clauseelement, multiparams, params, execution_options, result):
    if getattr(clauseelement, "table", None) is versions.members_table:
        open(sys.argv[3], "w").close()  # the version row is written, not committed
        time.sleep(600)

versions.commit(Dataset.load(sys.argv[2]), "shapes", "killed", workspace=ws)
"""


def test_a_commit_killed_mid_transaction_leaves_no_version(ws, shapes, tmp_path):
    marker = tmp_path / "inside-transaction"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    data = shapes.save(tmp_path / "as-yolo", "yolo")
    child = subprocess.Popen([sys.executable, str(script), str(ws.root), str(data), str(marker)])
    try:
        deadline = time.monotonic() + 600
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"the child never reached the transaction (rc {child.poll()})"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    with pytest.raises(UnknownDatasetError):
        resolve(ws, "shapes")
    result = commit(shapes, "shapes", "after the crash", workspace=ws)
    assert result.version.ref == "shapes@v1"
    assert same_records(shapes, Dataset.load("shapes@v1", workspace=ws))


def test_a_mistyped_path_creates_no_workspace(tmp_path):
    ws = Workspace.resolve(tmp_path / "never")
    with pytest.raises(UnknownDatasetError, match="typo.yaml: no such file or folder"):
        Dataset.load("typo.yaml", workspace=ws)
    assert not ws.root.exists()


def test_concurrent_commits_get_distinct_numbers(ws, shapes):
    from concurrent.futures import ThreadPoolExecutor

    parts = [shapes.filter(lambda r, k=k: r.id != shapes.ids[k]) for k in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda d: commit(d, "shapes", "race", workspace=ws), parts))
    assert sorted(r.version.number for r in results) == [1, 2, 3, 4]
    assert [v.number for v in list_versions(ws, "shapes")] == [1, 2, 3, 4]
