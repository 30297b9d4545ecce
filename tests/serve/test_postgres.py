"""The workspace database on a live PostgreSQL (started from the pgserver wheel):
API keys and the prediction log through the running server, then `yolops
monitor`'s reader on the same rows. pgserver and pg8000 are test dependencies; as root,
pgserver runs PostgreSQL as its own system user "pgserver" (PostgreSQL refuses root)."""

from __future__ import annotations

import time

import httpx
import pgserver
import pytest

from yolops.identity import KeyStore
from yolops.monitor.log import read_predictions

from serve_support import encode, files, scene


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    try:
        server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    except Exception as e:  # shared memory, permissions: the machine's, not our code's
        pytest.skip(f"PostgreSQL from pgserver does not start here: {type(e).__name__}: {e}")
    socket_dir = server.get_uri().split("host=")[-1]
    server.psql("CREATE DATABASE yolops_test;")
    yield f"postgresql+pg8000://postgres@/yolops_test?unix_sock={socket_dir}/.s.PGSQL.5432"
    server.cleanup()


def test_keys_and_prediction_log_on_postgresql(serve, postgres_url):
    store = KeyStore(postgres_url)
    key, record = store.create("pg-client", "predict")
    png = encode(scene())
    with serve(database_url=postgres_url) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.post("/v1/predict", files=files(png)).status_code == 401
            ok = [
                c.post("/v1/predict", files=files(png), headers={"X-API-Key": key})
                for _ in range(3)
            ]
            assert [r.status_code for r in ok] == [200, 200, 200]
            store.revoke(record.id)
            assert (
                c.post("/v1/predict", files=files(png), headers={"X-API-Key": key}).status_code
                == 401
            )
    deadline = time.monotonic() + 60
    while len(rows := read_predictions(postgres_url)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(rows) == 3 and {r["model_version"] for r in rows} == {server.model.ref.version}
    assert all(r["time"].tzinfo is not None and r["width"] == 160 for r in rows)
    assert [k.name for k in KeyStore(postgres_url).list()] == ["pg-client"]
