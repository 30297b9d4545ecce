"""`yolops data commit | log | tag | diff | checkout | lineage`, and a version reference
as `--data`: the first commit runs the console script in a child process; the rest
call the same entry point in-process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from yolops.data.dataset import Dataset
from yolops.data.synth import SynthConfig, generate_to
from yolops.data.versions import resolve
from yolops.track.lineage import TAG_DATASET_VERSION, runs_on_version
from yolops.track.registry import register_model
from yolops.track.training import train_tracked

from cli_support import invoke, run_cli
from track_support import new_workspace, tiny_config


@pytest.fixture
def ws(tmp_path, mlflow_template):
    return new_workspace(tmp_path / "ws", mlflow_template)


@pytest.fixture
def data(tmp_path) -> Path:
    return generate_to(
        tmp_path / "shapes",
        "yolo",
        SynthConfig(num_images=10, image_size=(96, 64), min_size=12, max_size=30, seed=3),
    )


def test_commit_log_tag_diff_checkout(ws, data, tmp_path, capsys):
    done = subprocess.run(
        [sys.executable, "-m", "yolops.cli.main", "data", "commit", str(data), "--name",
         "shapes", "-m", "first", "--workspace", str(ws.root)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Committed shapes@v1" in done.stdout and "10 new image files" in done.stdout

    def cli(*args):
        return run_cli(capsys, *args, "--workspace", str(ws.root))

    code, out = cli("data", "commit", str(data), "--name", "shapes", "-m", "again")
    assert code == 0 and "Unchanged" in out and "no new version" in out

    labels = sorted((data.parent / "labels" / "train").glob("*.txt"))
    labels[0].write_text("")  # a labeling round: every box of one image removed
    removed = len(Dataset.load("shapes@v1", workspace=ws)[labels[0].stem])
    code, out = cli("data", "commit", str(data), "--name", "shapes", "-m", "emptied one image")
    assert code == 0 and "Committed shapes@v2" in out and "0 new image files" in out

    code, out = cli("data", "tag", "shapes@v1", "approved")
    assert code == 0 and "shapes@approved" in out
    log = invoke(capsys, "data", "log", "shapes", "--json", "--workspace", str(ws.root))
    versions = json.loads(log.stdout)
    assert [(v["ref"], v["tags"], v["message"]) for v in versions] == [
        ("shapes@v2", [], "emptied one image"),
        ("shapes@v1", ["approved"], "first"),
    ]
    assert versions[0]["parent"] == "shapes@v1" and versions[0]["produced_by"]["kind"] == "commit"

    page = tmp_path / "diff.html"
    done = invoke(
        capsys, "data", "diff", "shapes@approved", "shapes", "--json", "--html", str(page),
        "--workspace", str(ws.root),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["images"]["changed"] == {labels[0].stem: f"{removed} boxes removed"}
    assert d["boxes"]["removed"] == removed and page.is_file()

    code, out = cli(
        "data", "checkout", "shapes@approved", str(tmp_path / "out"), "--format", "coco"
    )
    assert code == 0 and "Checked out shapes@v1" in out
    back = Dataset.load(tmp_path / "out")
    v1 = Dataset.load("shapes@v1", workspace=ws)
    assert sorted(back.ids) == sorted(v1.ids) and back.num_boxes == v1.num_boxes


def test_bad_references_are_one_clear_line(ws, data, capsys):
    def cli(*args):
        return run_cli(capsys, *args, "--workspace", str(ws.root))

    code, out = cli("data", "log", "nothing")
    assert code == 1 and "no dataset versions in" in out and "Traceback" not in out
    assert cli("data", "commit", str(data), "--name", "shapes", "-m", "first")[0] == 0
    code, out = cli("data", "log", "nothing")
    assert code == 1 and "no dataset named 'nothing'" in out and "it has: shapes" in out
    code, out = cli("data", "diff", "shapes@v1", "shapes@v7")
    assert code == 1 and "shapes has no version v7 (it has v1..v1)" in out
    code, out = cli("data", "tag", "shapes@v1", "v3")
    assert code == 1 and "cannot be a tag" in out
    code, out = cli("data", "commit", str(data), "--name", "no spaces", "-m", "x")
    assert code == 1 and "cannot name a dataset" in out


def test_training_on_a_version_records_the_lineage(ws, data, tmp_path, capsys):
    assert run_cli(
        capsys, "data", "commit", str(data), "--name", "shapes", "-m", "v1",
        "--workspace", str(ws.root),
    )[0] == 0  # fmt: skip
    shutil.rmtree(data.parent)  # the version alone feeds the training
    trained = train_tracked(tiny_config("shapes@v1", tmp_path / "runs", epochs=1), ws)
    client = ws.client()
    run = client.get_run(trained.run_id)
    version = resolve(ws, "shapes@v1")
    assert run.data.tags[TAG_DATASET_VERSION] == "shapes@v1"
    assert run.data.tags["dataset.hash"] == version.digest[:16]
    inputs = run.inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [
        ("shapes@v1", version.digest[:36])
    ]
    assert [i.tags[0].value for i in inputs] == ["training"]
    register_model(ws, trained.run_id, "detector", reference=False)
    [use] = runs_on_version(ws, version)
    assert (use.run_id, use.kind, use.models) == (trained.run_id, "train", ("detector/1",))
    code, out = run_cli(capsys, "data", "lineage", "shapes@v1", "--workspace", str(ws.root))
    assert code == 0 and trained.run_id in out and "commit" in out and "detector/1" in out
    code, out = run_cli(capsys, "models", "show", "detector", "--workspace", str(ws.root))
    assert code == 0 and f"trained on │ shapes@v1 ({version.digest[:12]}); lineage" in out
