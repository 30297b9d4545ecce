"""`yolops data …` and error handling, end to end through the console script."""

import json
import subprocess
import sys

import pytest

from yolops.data.synth import SynthConfig, generate_to


def yolops(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yolops.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    return generate_to(
        root / "shapes",
        "voc",
        SynthConfig(num_images=12, image_size=(96, 64), min_size=12, max_size=30, seed=11),
    )


def test_convert_then_stats_json(voc, tmp_path):
    done = yolops("data", "convert", str(voc), str(tmp_path / "yolo"), "--to", "yolo")
    assert done.returncode == 0, done.stderr
    assert "Wrote 12 images" in done.stdout
    # Off a terminal, each long step says when it starts and ends (on stderr).
    err = " ".join(done.stderr.split())
    assert f"Loading {voc} …" in err and f"Loading {voc}: done in" in err
    assert "Writing 12 images as yolo to" in err
    stats = yolops("data", "stats", str(tmp_path / "yolo" / "data.yaml"), "--json")
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["images"] == 12
    assert sorted(data["boxes_per_class"]) == ["circle", "square", "triangle"]
    again = yolops("data", "stats", str(voc), "--json")
    assert json.loads(again.stdout)["boxes"] == data["boxes"]  # nothing lost in the conversion


def test_stats_tables_name_classes(voc):
    done = yolops("data", "stats", str(voc))
    assert done.returncode == 0, done.stderr
    for word in ("Boxes per class", "circle", "square", "triangle", "Box sizes"):
        assert word in done.stdout


def test_bad_input_is_one_clear_line_without_traceback(tmp_path):
    done = yolops("data", "stats", str(tmp_path / "missing"))
    assert done.returncode == 1
    assert "no such file or folder" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "notes.txt").write_text("hello")
    done = yolops("data", "stats", str(tmp_path))
    assert (
        done.returncode == 1
        and "holds no dataset" in done.stderr
        and "Traceback" not in done.stderr
    )


def test_strict_fails_listing_problems_and_default_reports_them(voc, tmp_path):
    broken = tmp_path / "broken"
    done = yolops("data", "convert", str(voc), str(broken), "--to", "coco")
    assert done.returncode == 0, done.stderr
    victim = sorted((broken / "images").iterdir())[0]
    victim.write_bytes(b"not an image at all")
    default = yolops("data", "stats", str(broken))
    assert default.returncode == 0, default.stderr
    assert "image_unreadable" in default.stdout and victim.name in default.stdout
    strict = yolops("data", "stats", str(broken), "--strict")
    assert (
        strict.returncode == 1 and victim.name in strict.stderr and "Traceback" not in strict.stderr
    )


def test_debug_shows_the_traceback(tmp_path):
    done = yolops("--debug", "data", "stats", str(tmp_path / "missing"))
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_demo_runs_and_is_rerunnable(tmp_path):
    for _ in range(2):
        done = yolops("demo", "--fast", "--workspace", str(tmp_path / "ws"))
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "ws" / "demo" / "shapes" / "data.yaml").is_file()
    assert "Demo finished" in done.stdout
    out = " ".join(done.stdout.split())
    # The monitoring step: the same images pass, darkened ones alert and go back to labeling.
    assert (
        "15 ordinary images: ok" in out
        and "15 images at 35% brightness: alert (image brightness" in out
    )
    assert "15 of 15 flagged images written" in out
    exported = tmp_path / "ws" / "demo" / "monitoring" / "to-label"
    assert (
        len(list((exported / "images").rglob("*.png"))) == 15
        and (exported / "selection.csv").is_file()
    )
