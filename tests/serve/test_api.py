"""The HTTP API end to end on loopback: answers, auth, docs, metrics."""

from __future__ import annotations

import base64
import hashlib
import logging
import sqlite3
import subprocess
import sys

import httpx
import numpy as np
import pytest

from yolops.identity import KeyStore
from yolops.infer.predictor import OnnxPredictor

from serve_support import encode, files, scene


def test_predict_multipart_matches_the_predictor(serve, keys, model_path):
    images = [scene(160, 120, 0), scene(200, 90, 1)]
    with serve() as server:
        r = httpx.post(
            f"{server.url}/v1/predict",
            files=files(*(encode(i) for i in images)),
            headers={"X-API-Key": keys["predict"]},
            params={"conf": 0.01},
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["name"] == "model" and len(body["model"]["version"]) == 12
    assert [(x["name"], x["width"], x["height"]) for x in body["results"]] == [
        ("img0.png", 160, 120),
        ("img1.png", 200, 90),
    ]
    expected = OnnxPredictor(model_path).predict(images, conf=0.01)
    for result, dets in zip(body["results"], expected):
        assert (
            len(result["detections"]) == len(dets) > 0
        )  # a random model at conf 0.01 sees something
        got = np.array([d["box"] for d in result["detections"]])
        np.testing.assert_allclose(got, dets.boxes, atol=0.02)
        assert [d["class_name"] for d in result["detections"]] == [
            dets.class_names[c] for c in dets.classes
        ]
        assert all(b[0] <= b[2] and b[1] <= b[3] for b in got)


def test_large_jpegs_are_decoded_reduced_and_answered_in_original_pixels(serve, keys, model_path):
    import io

    from PIL import Image, ImageOps

    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated: 480 wide, 640 high
    buf = io.BytesIO()
    Image.fromarray(scene(640, 480, 3)).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    blobs = [encode(scene(640, 480, 2), "JPEG"), buf.getvalue()]
    with serve() as server:
        r = httpx.post(
            f"{server.url}/v1/predict",
            files=files(*blobs),
            headers={"X-API-Key": keys["predict"]},
            params={"conf": 0.01},
        )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["width"], x["height"]) for x in results] == [(640, 480), (480, 640)]
    predictor = OnnxPredictor(model_path)
    for blob, result in zip(blobs, results):
        im = Image.open(io.BytesIO(blob))
        im.draft("RGB", (im.width // 4, im.height // 4))  # imgsz 128: a 1/4 decode keeps 160 px
        reduced = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        assert reduced.shape[:2] == (result["height"] // 4, result["width"] // 4)
        [dets] = predictor.predict(
            [reduced], conf=0.01, original_sizes=[(result["width"], result["height"])]
        )
        got = np.array([d["box"] for d in result["detections"]])
        assert len(got) == len(dets) > 0
        np.testing.assert_allclose(got, dets.boxes, atol=0.02)
        assert (
            got[:, [0, 1]].min() >= 0
            and got[:, 2].max() <= result["width"]
            and got[:, 3].max() <= result["height"]
        )


def test_predict_json_base64_and_data_url(serve, keys, png):
    payload = {
        "images": [
            {"data": base64.b64encode(png).decode(), "name": "first"},
            {"data": "data:image/png;base64," + base64.b64encode(png).decode()},
        ]
    }
    with serve() as server:
        r = httpx.post(
            f"{server.url}/v1/predict",
            json=payload,
            headers={"Authorization": f"Bearer {keys['predict']}"},
        )
    assert r.status_code == 200, r.text
    assert [x["name"] for x in r.json()["results"]] == ["first", "images[1]"]
    assert r.json()["results"][0]["detections"] == r.json()["results"][1]["detections"]


def test_auth_no_key_wrong_key_wrong_role_revoked(serve, keys, db_url, png):
    with serve() as server:
        url = server.url
        assert httpx.post(f"{url}/v1/predict", files=files(png)).status_code == 401
        bad = httpx.post(
            f"{url}/v1/predict",
            files=files(png),
            headers={"X-API-Key": keys["predict"][:-2] + "zz"},
        )
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthenticated"
        assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": "nonsense"}).status_code == 401
        forbidden = httpx.post(f"{url}/v1/models/reload", headers={"X-API-Key": keys["predict"]})
        assert forbidden.status_code == 403 and "admin" in forbidden.json()["error"]["message"]
        assert (
            httpx.post(f"{url}/v1/models/reload", headers={"X-API-Key": keys["admin"]}).status_code
            == 200
        )
        assert (
            httpx.post(
                f"{url}/v1/predict", files=files(png), headers={"X-API-Key": keys["admin"]}
            ).status_code
            == 200
        )
        ok = httpx.post(
            f"{url}/v1/predict", files=files(png), headers={"X-API-Key": keys["predict"]}
        )
        assert ok.status_code == 200
        # Revoked from another process (the CLI): refused on the very next request.
        key_id = keys["predict"][3:11]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "yolops.cli.main",
                "keys",
                "revoke",
                key_id,
                "--database-url",
                db_url,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        revoked = httpx.post(
            f"{url}/v1/predict", files=files(png), headers={"X-API-Key": keys["predict"]}
        )
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]


def test_auth_off_is_explicit_and_loud(serve, png, caplog):
    with caplog.at_level(logging.WARNING, logger="yolops.serve"):
        with serve(auth=False) as server:
            r = httpx.post(f"{server.url}/v1/predict", files=files(png))
    assert r.status_code == 200
    assert any("API keys are OFF" in rec.getMessage() for rec in caplog.records)


def test_models_health_ready_docs(serve, keys):
    with serve() as server:
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        models = c.get("/v1/models").json()
        assert models["models"][0]["class_names"] == ["a", "b", "c"]
        assert models["models"][0]["version"] == server.model.ref.version
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "model": "ok",
            "batcher": "ok",
            "database": "ok",
        }
        spec = httpx.get(f"{server.url}/openapi.json").json()
        assert {"/v1/predict", "/v1/models", "/healthz", "/readyz", "/metrics"} <= set(
            spec["paths"]
        )
        body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
        assert set(body) == {"multipart/form-data", "application/json"}
        assert httpx.get(f"{server.url}/docs").status_code == 200


def test_metrics_count_requests_batches_and_model(serve, keys, png):
    with serve() as server:
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        for _ in range(3):
            assert c.post("/v1/predict", files=files(png, png)).status_code == 200
        c.post("/v1/predict", content=b"x", headers={"content-type": "text/plain"})
        c.get("/no/such/path")
        text = c.get("/metrics").text
    version = server.model.ref.version
    assert 'yolops_http_requests_total{method="POST",route="/v1/predict",status="200"} 3.0' in text
    assert 'yolops_http_requests_total{method="POST",route="/v1/predict",status="415"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert (
        'yolops_http_request_duration_seconds_count{method="POST",route="/v1/predict",'
        'status="200"} 3.0' in text
    )
    assert "yolops_batch_size_sum 6.0" in text and "yolops_images_total 6.0" in text
    assert f'yolops_model_info{{name="model",version="{version}"}} 1.0' in text
    assert "yolops_queue_depth 0.0" in text
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total"):
        assert f"\n{name} " in text, name
    assert 'python_gc_collections_total{generation="0"}' in text and "python_info{" in text


def test_each_server_registry_has_the_process_and_gc_collectors():
    """Issue 16, item 12: a private registry lacked what every dashboard expects; two
    servers in one process each carry them (no duplicate-registration error)."""
    from yolops.serve.metrics import ServeMetrics

    for metrics in (ServeMetrics(), ServeMetrics()):
        text = metrics.render()[0].decode()
        for name in (
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_start_time_seconds",
            "process_cpu_seconds_total",
            "process_open_fds",
            "python_gc_objects_collected_total",
            "python_gc_collections_total",
            "python_info",
        ):
            assert f"\n# TYPE {name} " in text, name


def test_keys_are_stored_hashed(db_url):
    store = KeyStore(db_url)
    key, info = store.create("someone", "admin")
    raw = db_url.removeprefix("sqlite:///")
    rows = sqlite3.connect(raw).execute("select id, key_hash from api_keys").fetchall()
    assert (info.id, hashlib.sha256(key.encode()).hexdigest()) in rows
    assert key.encode() not in open(raw, "rb").read()
    assert store.verify(key).role == "admin"
    assert store.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify("") is None and store.verify("yk_zz_short") is None
    store.revoke(info.id)
    assert not store.verify(key).active
    assert [k.id for k in store.list(include_revoked=False)] == []


def test_keystore_refuses_bad_roles_and_unknown_ids(db_url):
    from yolops.errors import ConfigError, YolopsError

    store = KeyStore(db_url)
    with pytest.raises(ConfigError, match="role"):
        store.create("x", "superuser")
    with pytest.raises(ConfigError, match="name"):
        store.create("  ", "predict")
    with pytest.raises(YolopsError, match="no API key"):
        store.revoke("deadbeef")


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_key_database_down_is_503_not_500(model_path, db_url, keys, png):
    from fastapi.testclient import TestClient

    from yolops.errors import DatabaseError
    from yolops.serve.app import build_app
    from yolops.serve.config import ServeConfig

    app = build_app(
        ServeConfig(
            model=str(model_path), database_url=db_url, reload_interval=0, prediction_log=False
        )
    )
    with TestClient(app) as client:

        def down(*_):
            raise DatabaseError("cannot check an API key in sqlite:///x: disk I/O error")

        app.state.yolops.keys.verify = down
        app.state.yolops.keys.ping = down
        r = client.post("/v1/predict", files=files(png), headers={"X-API-Key": keys["predict"]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
        assert r.headers["Retry-After"] == "5"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "disk I/O error" in ready.json()["checks"]["database"]


def test_responses_are_not_held_back_by_nagle(serve):
    """The listening socket must say it is TCP, or asyncio leaves Nagle's algorithm on
    and every response waits ~40 ms for a delayed ACK."""
    import socket

    from yolops.net import bind

    sock = bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    sock.close()


def test_serving_an_onnx_graph_imports_no_torch(model_path, png, tmp_path):
    """Issue 16, item 14: the server with an ONNX model starts and answers without torch
    (its NMS is OpenCV's); a fresh interpreter, since this one has torch loaded."""
    (tmp_path / "image.png").write_bytes(png)
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from yolops.serve.app import build_app\n"
        "from yolops.serve.config import ServeConfig\n"
        "config = ServeConfig(model=sys.argv[1], auth=False, workspace=sys.argv[2], "
        "reload_interval=0)\n"
        "with TestClient(build_app(config)) as client:\n"
        "    blob = open(sys.argv[3], 'rb').read()\n"
        "    sent = [('images', ('a.png', blob, 'image/png'))]\n"
        "    answer = client.post('/v1/predict', files=sent)\n"
        "    assert answer.status_code == 200, answer.text\n"
        "print('torch' in sys.modules)\n"
    )
    args = [str(model_path), str(tmp_path / "ws"), str(tmp_path / "image.png")]
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
