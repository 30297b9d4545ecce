"""`yolops predict` as a user meets it: what --source takes (and what not yet), an
unreadable file among good ones, the loader's pixel limit, progress on long work.
A fresh (untrained) checkpoint is enough: these tests are about the command, not boxes."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolops.model.checkpoint import save_checkpoint
from yolops.model.yolo import build_model

from cli_support import invoke, run_cli


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("fresh") / "fresh.pt"
    model = build_model("n", 2)
    save_checkpoint(
        path, {"model": model.state_dict(), "scale": "n", "class_names": ["a", "b"], "imgsz": 64}
    )
    return path


def png(path, size=(40, 30)):
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), 90, np.uint8))
    return path


def predict(capsys, checkpoint, *args):
    return invoke(capsys, "predict", "--model", checkpoint, "--backend", "torch", "--source", *args)


def test_help_says_what_model_and_source_take(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    code, text = run_cli(capsys, "predict", "-h")
    assert code == 0
    assert "registry reference: NAME@ALIAS, NAME/VERSION or runs:/RUN_ID" in text
    assert "Not supported yet: URLs, camera indexes, RTSP streams." in text


@pytest.mark.parametrize(
    "source", ["https://example.com/bus.jpg", "rtsp://camera.local/1", "0"], ids=str
)
def test_live_sources_say_not_supported_yet(source, checkpoint, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = predict(capsys, checkpoint, source)
    assert done.returncode == 1
    assert "not supported as a source yet" in done.stderr
    assert "no such file or folder" not in done.stderr


def test_an_unreadable_file_is_reported_and_the_rest_are_predicted(checkpoint, capsys, tmp_path):
    png(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg at all")
    png(tmp_path / "c.png")
    (tmp_path / "d.png").write_bytes(b"")
    png(tmp_path / "e.png")
    done = predict(capsys, checkpoint, tmp_path, "--json", "--out", tmp_path / "out")
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert "skipped:" in err and "b.jpg" in err and "d.png" in err
    assert "2 unreadable file(s) skipped (each named above); 3 image(s) predicted" in err
    records = json.loads((tmp_path / "out" / "detections.json").read_text())
    assert [Path(r["source"]).name for r in records] == ["a.png", "c.png", "e.png"]
    assert "Detections" in done.stdout


def test_the_loaders_pixel_limit_applies_before_decoding(checkpoint, capsys, tmp_path, monkeypatch):
    import yolops.data.images as images

    monkeypatch.setattr(images, "MAX_PIXELS", 40 * 30)
    png(tmp_path / "ok.png", (40, 30))
    png(tmp_path / "too-large.png", (41, 30))
    done = predict(capsys, checkpoint, tmp_path)
    assert done.returncode == 1
    assert "too-large.png: image has 41x30 pixels (limit 1200)" in " ".join(done.stderr.split())
    assert "1 image(s) predicted" in done.stderr


def test_progress_off_a_terminal_is_plain_lines_with_counts(checkpoint, capsys, tmp_path):
    for i in range(3):
        png(tmp_path / f"{i}.png")
    done = predict(capsys, checkpoint, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Predicting: 0/3 images (0%)" in done.stderr
    assert "Predicting: 3 images in" in done.stderr
