"""Monitoring end to end on a registered model: reference statistics stored at
registration, prediction-log rows written by the real log writer, then
`yolops monitor` with its HTML report, webhook alert (to a receiver on
127.0.0.1) and the batch of flagged images exported as a dataset to label."""

from __future__ import annotations

import csv
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from yolops.cli.main import main
from yolops.data.dataset import Dataset
from yolops.data.image_stats import image_statistics
from yolops.data.images import read_image
from yolops.errors import ReferenceStatsError
from yolops.infer.predictor import load_predictor
from yolops.monitor.log import LogEntry, PredictionLog, read_predictions
from yolops.track.reference import attach_reference, load_reference
from yolops.track.registry import describe
from yolops.track.resolve import resolve_model

from cli_support import run_cli


def serve_like(registered, url: str, samples, images: list[np.ndarray], version: str = "1") -> None:
    """What the server does for each image: predict, compute statistics, log (every
    image sampled, so its bytes are saved for labeling)."""
    predictor = load_predictor(resolve_model("shapes/1", registered.ws))
    plog = PredictionLog(url, samples, sample_rate=1.0, seed=0)
    plog.start()
    for image in images:
        (found,) = predictor.predict([image], conf=0.25)
        ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        plog.record(
            LogEntry(
                uuid.uuid4().hex,
                "shapes",
                version,
                3.0,
                "upload.png",
                image.shape[1],
                image.shape[0],
                image_statistics(image),
                found,
                png.tobytes(),
            )
        )
    plog.close()
    assert plog.written == len(images) and plog.dropped == 0


def dataset_images(registered) -> list[np.ndarray]:
    return [read_image(r.path) for r in Dataset.load(registered.data)]


class Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 204

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.received, Receiver.status = [], 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver.received
    server.shutdown()
    server.server_close()


def test_registration_stores_reference_statistics(registered):
    ref = load_reference(registered.ws, "shapes@production")
    ds = Dataset.load(registered.data)
    assert (ref.model_name, ref.model_version) == ("shapes", "1")
    assert ref.num_images == len(ds) == 40 and ref.splits == {"train": 24, "val": 16}
    assert len(ref.detections) == 16  # predictions on the validation images only
    assert ref.class_names == ds.class_names and ref.dataset_hash == ds.content_hash()
    first = read_image(ds.records[0].path)
    assert ref.inputs["width"][0] == 96 and ref.inputs["height"][0] == 64
    assert (
        image_statistics(first)["brightness"] in ref.inputs["brightness"]
    )  # the server's own statistic
    shown = describe(registered.ws, "shapes@production")
    assert shown["reference"] == f"runs:/{registered.run_id}/monitoring/shapes-v1.json"


def test_reference_errors_name_the_version_and_the_way_out(registered, tmp_path, capsys):
    with pytest.raises(
        ReferenceStatsError,
        match=r"shapes version 1: cannot read its dataset .*nowhere.*"
        r"yolops models reference shapes/1 --data DATA",
    ):
        attach_reference(registered.ws, "shapes/1", data=tmp_path / "nowhere")
    code, out = run_cli(
        capsys,
        "models",
        "reference",
        "shapes/1",
        "--data",
        str(registered.data),
        "--workspace",
        str(registered.ws.root),
    )
    assert code == 0 and "Reference statistics of shapes/1: 40 images' inputs" in out


def test_quiet_traffic_passes(registered, tmp_path, capsys, webhook):
    url, received = webhook
    db = f"sqlite:///{tmp_path / 'log.db'}"
    serve_like(registered, db, tmp_path / "samples", dataset_images(registered))
    code, out = run_cli(
        capsys,
        "monitor",
        "--model",
        "shapes@production",
        "--window",
        "1h",
        "--database-url",
        db,
        "--workspace",
        str(registered.ws.root),
        "--webhook",
        url,
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 0, out
    assert "shapes version 1: 40 images" in out and "no drift" in out
    assert received == []  # no alert, no POST
    assert "<b>OK</b>" in (tmp_path / "r.html").read_text()


def test_darkened_traffic_alerts_reports_and_exports(registered, tmp_path, capsys, webhook):
    url, received = webhook
    db = f"sqlite:///{tmp_path / 'log.db'}"
    dark = [(img * 0.3).astype(np.uint8) for img in dataset_images(registered)]
    serve_like(registered, db, tmp_path / "samples", dark)
    serve_like(
        registered, db, tmp_path / "samples", dark[:5], version="0"
    )  # an older version: left out
    out_dir, html, js = tmp_path / "to-label", tmp_path / "monitor.html", tmp_path / "monitor.json"
    code, out = run_cli(
        capsys,
        "monitor",
        "--model",
        "shapes@production",
        "--database-url",
        db,
        "--workspace",
        str(registered.ws.root),
        "--webhook",
        url,
        "--to-label",
        str(out_dir),
        "--html",
        str(html),
        "--json",
        str(js),
    )
    assert code == 1, out
    assert "image brightness" in out and "drifted" in out and "alert" in out

    report = json.loads(js.read_text())
    assert report["status"] == "alert" and report["window"] == {
        **report["window"],
        "images": 40,
        "other_versions": 5,
    }
    assert "image brightness" in {f["feature"] for f in report["features"] if f["drifted"]}
    assert len(report["flagged"]) == 40  # every image darker than the reference's darkest

    assert len(received) == 1
    alert = received[0]
    assert alert["text"].startswith("yolops monitor ALERT: shapes version 1: 40 images")
    assert "image brightness" in alert["text"] and str(html) in alert["text"]
    assert alert["model"] == {"name": "shapes", "version": "1"} and alert["alerts"]

    page = html.read_text()
    assert (
        "<b>ALERT</b>" in page and page.count("data:image/png;base64,") >= 3
    )  # timeline + 2 drift plots
    assert page.count("data:image/jpeg;base64,") == 24  # thumbnails of flagged images, capped

    exported = Dataset.load(out_dir)
    assert (
        len(exported) == 40
        and exported.class_names == load_reference(registered.ws, "shapes/1").class_names
    )
    with open(out_dir / "selection.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 40 and all(
        "brightness" in r["reasons"] and "below" in r["reasons"] for r in rows
    )
    logged = {r["request_id"] for r in read_predictions(db)}
    assert {r["request_id"] for r in rows} <= logged


def test_monitor_errors_are_one_clear_line(registered, tmp_path, capsys):
    w = [
        "--workspace",
        str(registered.ws.root),
        "--database-url",
        f"sqlite:///{tmp_path / 'log.db'}",
    ]
    code, out = run_cli(capsys, "monitor", "--model", "shapes@staging", *w)
    assert code == 1 and "model 'shapes' has no alias 'staging'" in out and "Traceback" not in out
    code, out = run_cli(capsys, "monitor", "--model", "shapes@production", "--window", "soon", *w)
    assert code == 1 and "window 'soon'" in out
    code, out = run_cli(capsys, "monitor", "--model", "shapes@production", *w)
    assert code == 0 and "not enough traffic" in out  # an empty log: no verdict, no failure


def test_a_failing_webhook_is_an_error_but_the_export_still_happens(
    registered, tmp_path, capsys, webhook
):
    url, received = webhook
    Receiver.status = 500
    db = f"sqlite:///{tmp_path / 'log.db'}"
    serve_like(
        registered,
        db,
        tmp_path / "samples",
        [(img * 0.3).astype(np.uint8) for img in dataset_images(registered)],
    )
    code, out = run_cli(
        capsys,
        "monitor",
        "--model",
        "shapes@production",
        "--database-url",
        db,
        "--workspace",
        str(registered.ws.root),
        "--webhook",
        url,
        "--export-batch",  # the previous release's spelling of --to-label still works
        str(tmp_path / "batch"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 1 and f"webhook {url} did not take the alert (HTTP 500" in out
    assert len(received) == 2  # a server error is tried twice
    assert len(Dataset.load(tmp_path / "batch")) == 40


def test_json_on_stdout_is_only_json(registered, tmp_path, capfd):
    db = f"sqlite:///{tmp_path / 'log.db'}"
    serve_like(registered, db, tmp_path / "samples", dataset_images(registered))
    try:
        main(
            [
                "monitor",
                "--model",
                "shapes/1",
                "--database-url",
                db,
                "--workspace",
                str(registered.ws.root),
                "--json",
                "-",
                "--html",
                str(tmp_path / "r.html"),
            ]
        )
    except SystemExit as e:
        assert e.code == 0
    captured = capfd.readouterr()
    report = json.loads(captured.out)
    assert report["status"] == "ok" and report["window"]["images"] == 40
    assert "no drift" in captured.err


def test_run_monitor_is_the_whole_policy_in_one_call(registered, tmp_path, webhook):
    """The library call a scheduler or pipeline makes: the report is written, the alert
    that could not be delivered is reported in the outcome rather than raised, the
    flagged images still go to labeling, and the exit code says both."""
    from datetime import timedelta

    from yolops.monitor import run_monitor
    from yolops.workspace import Workspace

    url, received = webhook
    Receiver.status = 500
    db = f"sqlite:///{tmp_path / 'log.db'}"
    dark = [(img * 0.3).astype(np.uint8) for img in dataset_images(registered)]
    serve_like(registered, db, tmp_path / "samples", dark)
    ws = Workspace.resolve(registered.ws.root, registered.ws.tracking_uri, db)
    outcome = run_monitor(
        "shapes@production",
        timedelta(hours=1),
        workspace=ws,
        json_path=tmp_path / "r.json",
        webhook=url,
        to_label=tmp_path / "to-label",
    )
    assert outcome.report.status == "alert" and outcome.exit_code == 1
    assert outcome.html.parent == ws.monitoring_dir and outcome.html.is_file()
    assert json.loads(outcome.json.read_text())["status"] == "alert"
    assert outcome.alert_status is None and "HTTP 500" in str(outcome.alert_error)
    assert len(received) == 2
    assert outcome.to_label.images == 40 and len(Dataset.load(tmp_path / "to-label")) == 40
