"""Hot reload from a model file: swapped under load with no failed request, and a
broken file never replaces a working model."""

from __future__ import annotations

import os

import httpx

from serve_support import encode, files, scene, steady_load, wait_for


def replace_atomically(target, blob: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, target)


def test_swap_under_load_fails_no_request(serve, keys, model_path, models_dir):
    png = encode(scene())
    with serve(reload_interval=0.1) as server:
        old = server.model.ref.version
        c = httpx.Client(base_url=server.url, headers={"X-API-Key": keys["predict"]})
        with steady_load(server.url, keys["predict"], png) as load:
            wait_for(lambda: len(load.versions) >= 8, "answers from the old model under load")
            replace_atomically(model_path, (models_dir / "b.onnx").read_bytes())
            wait_for(lambda: c.get("/v1/models").json()["models"][0]["version"] != old, "the swap")

            def answered_after_swap() -> int:  # keep the load on after the swap
                versions = list(load.versions)
                new = [v for v in versions if v != old]
                return len(versions) - versions.index(new[0]) if new else 0

            wait_for(lambda: answered_after_swap() >= 16, "answers after the swap")
        info = c.get("/v1/models").json()["models"][0]
        metrics = c.get("/metrics").text
    assert info["version"] != old and info["class_names"] == ["x", "y", "z"]
    assert set(load.statuses) == {200}, load.statuses
    assert old in load.versions and info["version"] in load.versions
    first_new = load.versions.index(info["version"])
    assert all(
        v == info["version"] for v in load.versions[first_new + 8 :]
    )  # no flip-flopping after the swap
    assert 'yolops_model_reloads_total{result="ok"} 1.0' in metrics
    assert f'yolops_model_info{{name="model",version="{info["version"]}"}} 1.0' in metrics
    assert f'version="{old}"' not in metrics


def test_a_broken_file_keeps_the_old_model(serve, keys, model_path):
    png = encode(scene())
    with serve(reload_interval=0) as server:
        old = server.model.ref.version
        replace_atomically(model_path, b"not an onnx graph")
        admin = {"X-API-Key": keys["admin"]}
        r = httpx.post(f"{server.url}/v1/models/reload", headers=admin)
        assert r.status_code == 422 and r.json()["error"]["code"] == "reload_failed"
        assert "ONNX" in r.json()["error"]["message"]
        models = httpx.get(f"{server.url}/v1/models", headers=admin).json()
        assert models["models"][0]["version"] == old and "ONNX" in models["last_reload_error"]
        ok = httpx.post(f"{server.url}/v1/predict", files=files(png), headers=admin)
        assert ok.status_code == 200 and ok.json()["model"]["version"] == old
        assert (
            'yolops_model_reloads_total{result="failed"} 1.0'
            in httpx.get(f"{server.url}/metrics").text
        )
        # The source still offers the broken file: still refused, still the old model.
        r = httpx.post(f"{server.url}/v1/models/reload", headers=admin)
        assert r.status_code == 422
        assert (
            httpx.get(f"{server.url}/v1/models", headers=admin).json()["models"][0]["version"]
            == old
        )
