"""HTTPS with a certificate and key; `yolops serve` and `yolops keys` through the
console script (and, for their errors, the same entry point in-process); the demo's
serve-and-ask step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from yolops.pipeline.demo_steps import serve_and_ask

from cli_support import invoke
from serve_support import encode, files, scene


def yolops(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yolops.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.fixture
def certificate(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (Debian: apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_https_with_certificate(serve, keys, certificate, png):
    cert, key = certificate
    with serve(tls_cert=str(cert), tls_key=str(key)) as server:
        assert server.url.startswith("https://")
        r = httpx.post(
            f"{server.url}/v1/predict",
            files=files(png),
            headers={"X-API-Key": keys["predict"]},
            verify=ssl.create_default_context(cafile=str(cert)),
        )
        assert r.status_code == 200
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets nowhere
            httpx.get(server.url.replace("https://", "http://") + "/healthz", timeout=5)


def test_tls_needs_both_files(model_path):
    from yolops.errors import ConfigError
    from yolops.serve.config import ServeConfig

    with pytest.raises(ConfigError, match="both a certificate and a key"):
        ServeConfig(model=str(model_path), tls_cert=str(model_path))


def test_keys_cli_create_list_revoke(db_url, capsys):
    made = yolops("keys", "create", "ci", "--role", "admin", "--database-url", db_url, "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["key"].startswith(f"yk_{key['id']}_") and key["role"] == "admin"

    def keys(*args):
        return invoke(capsys, "keys", *args, "--database-url", db_url)

    listed = json.loads(keys("list", "--json").stdout)
    assert [(k["id"], k["role"], k["revoked_at"]) for k in listed] == [(key["id"], "admin", None)]
    assert key["key"] not in keys("list").stdout
    assert keys("revoke", key["id"]).returncode == 0
    assert json.loads(keys("list", "--json").stdout)[0]["revoked_at"]
    bad = keys("create", "x", "--role", "root")
    assert bad.returncode == 1 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_cli_no_auth_is_loud_and_serves(model_path, tmp_path):
    port = free_port()
    env = {**os.environ, "YOLOPS_HOME": str(tmp_path / "ws")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yolops.cli.main",
            "serve",
            "--model",
            str(model_path),
            "--port",
            str(port),
            "--no-auth",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/predict", files=files(encode(scene())))
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert "API keys are OFF" in err
    assert (tmp_path / "ws" / "yolops.db").is_file()  # the prediction log went to the workspace


def test_serve_cli_errors_are_clear(tmp_path, capsys):
    missing = invoke(capsys, "serve", "--model", str(tmp_path / "nope.onnx"))
    assert (
        missing.returncode == 1
        and "nope.onnx" in missing.stderr
        and "Traceback" not in missing.stderr
    )
    bad = invoke(capsys, "serve", "--model", str(tmp_path / "x.onnx"), "--max-batch", "0")
    assert bad.returncode == 1 and "max_batch" in bad.stderr


def test_serve_and_ask(model_path, tmp_path):
    image = tmp_path / "scene.png"
    image.write_bytes(encode(scene(160, 120, 3)))
    answer = serve_and_ask(model_path, image)
    assert answer["url"].startswith("http://127.0.0.1:")
    assert answer["results"][0]["name"] == "scene.png"
    assert (answer["results"][0]["width"], answer["results"][0]["height"]) == (160, 120)
    assert answer["model"]["name"] == "model"
    with pytest.raises(httpx.HTTPError):  # stopped
        httpx.get(answer["url"] + "/healthz", timeout=2)
