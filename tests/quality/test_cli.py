"""`yolops data schema` and `yolops data validate`, end to end: the gate's exit codes,
the reports it writes, and label errors from a model. The exit codes are checked in
a child process (as CI runs it); the rest calls the same entry point in-process,
which saves the 2 s each child spends importing torch and scipy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from yolops.data.dataset import save_dataset
from yolops.data.synth import SynthConfig, generate
from yolops.quality.plant import plant_defects

from cli_support import invoke


def yolops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yolops.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def cli(capsys):
    """``yolops ARGS`` in-process through ``main``: (exit code, stdout, stderr)."""
    return lambda *args: invoke(capsys, *args)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Three YOLO datasets of generated shapes: clean, with only warnings (darkened
    images), and with errors (an image copied into another split)."""
    root = tmp_path_factory.mktemp("cli")
    ds = generate(
        root / "gen",
        SynthConfig(num_images=30, image_size=(128, 96), min_size=12, max_size=40, seed=4),
    )
    dark, _ = plant_defects(ds, root / "dark-src", per_kind=2, kinds=("dark",))
    leaky, _ = plant_defects(ds, root / "leaky-src", per_kind=1, kinds=("duplicate_across_splits",))
    return {
        name: save_dataset(d, root / name, "yolo")
        for name, d in (("clean", ds), ("dark", dark), ("leaky", leaky))
    }


def test_exit_codes_follow_fail_on(data, tmp_path, cli):
    clean = yolops("data", "validate", data["clean"], "--json", tmp_path / "clean.json")
    assert clean.returncode == 0, clean.stderr
    assert "PASSED" in clean.stdout
    assert json.loads((tmp_path / "clean.json").read_text())["counts_by_severity"]["error"] == 0

    leaky = yolops("data", "validate", data["leaky"])
    assert leaky.returncode == 1 and "FAILED" in leaky.stdout and "split_leakage" in leaky.stdout
    assert "Traceback" not in leaky.stderr
    # The same entry point in-process, for the rest.
    assert cli("data", "validate", data["leaky"], "--fail-on", "never").returncode == 0
    dark = [
        cli("data", "validate", data["dark"], "--fail-on", level).returncode
        for level in ("error", "warning")
    ]
    assert dark == [0, 1]


def test_reports_are_written(cli, data, tmp_path):
    done = cli(
        "data",
        "validate",
        data["leaky"],
        "--html",
        tmp_path / "r" / "report.html",
        "--json",
        tmp_path / "r" / "report.json",
        "--fail-on",
        "never",
    )
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r" / "report.html").read_text()
    assert (
        page.startswith("<!DOCTYPE html>")
        and "data:image/jpeg;base64," in page
        and "PASSED" in page
    )
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["counts_by_code"]["split_leakage"] == 1 and report["images"] == 31


def test_schema_then_validate_against_it(cli, data, tmp_path):
    schema = tmp_path / "schema.yaml"
    done = cli("data", "schema", data["clean"], "-o", schema)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(schema.read_text())["class_names"] == ["circle", "square", "triangle"]
    assert cli("data", "validate", data["dark"], "--schema", schema).returncode == 0
    # a person edits the schema: triangles are not welcome any more
    edited = yaml.safe_load(schema.read_text())
    edited["class_names"].remove("triangle")
    del edited["classes"]["triangle"]
    schema.write_text(yaml.safe_dump(edited))
    done = cli("data", "validate", data["clean"], "--schema", schema, "--json", tmp_path / "r.json")
    assert done.returncode == 1 and "class_unknown" in done.stdout
    bad = cli("data", "validate", data["clean"], "--schema", tmp_path / "missing.yaml")
    assert (
        bad.returncode == 1 and "cannot read schema" in bad.stderr and "Traceback" not in bad.stderr
    )


def test_against_a_reference_reports_drift(cli, data, tmp_path):
    done = cli(
        "data",
        "validate",
        data["dark"],
        "--against",
        data["clean"],
        "--json",
        tmp_path / "d.json",
        "--no-images",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "d.json").read_text())
    assert report["schema_source"] == "reference" and report["drift"]["features"]
    assert report["image_stats"] == {}  # --no-images read no pixel


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    """A yolops-n trained for one epoch at 64 px: a model, not a good one."""
    from yolops.detector import Detector

    runs = tmp_path_factory.mktemp("runs")
    det = Detector.train(
        data["clean"], scale="n", imgsz=64, epochs=1, batch=8, project=str(runs), name="m"
    )
    return det.train_result.best


@pytest.mark.slow
def test_label_errors_from_a_model(cli, data, model, tmp_path):
    done = cli(
        "data",
        "validate",
        data["clean"],
        "--labels",
        model,
        "--json",
        tmp_path / "l.json",
        "--html",
        tmp_path / "l.html",
        "--fail-on",
        "never",
    )
    assert done.returncode == 0, done.stderr
    issues = json.loads((tmp_path / "l.json").read_text())["issues"]
    # one epoch teaches a model nothing: the check says so rather than flag every label
    assert [i["code"] for i in issues if i["code"].startswith("label_")] == ["label_model_too_weak"]
    assert "label_model_too_weak" in (tmp_path / "l.html").read_text()
    missing = cli("data", "validate", data["clean"], "--labels", tmp_path / "nope.pt")
    assert missing.returncode == 1 and "no such model file" in missing.stderr


def test_cleanvision_as_the_image_checker(cli, data, tmp_path):
    done = cli(
        "data",
        "validate",
        data["dark"],
        "--image-checker",
        "cleanvision",
        "--json",
        tmp_path / "c.json",
        "--fail-on",
        "never",
    )
    assert done.returncode == 0, done.stderr
    issues = json.loads((tmp_path / "c.json").read_text())["issues"]
    assert any(i["message"].startswith("cleanvision: dark") for i in issues)


def test_progress_off_a_terminal_counts_the_images_read(cli, data):
    done = cli("data", "validate", data["dark"], "--against", data["clean"])
    assert "Reading images: 0/60 images (0%)" in done.stderr  # 30 images, then 30 more
    assert "Reading images: 60 images in" in done.stderr
    quiet = cli("data", "validate", data["dark"], "--no-images")
    assert "Reading images" not in quiet.stderr
