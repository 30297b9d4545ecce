"""Fixtures for the server tests: two tiny exported models, images, and servers on
127.0.0.1 at free ports that stop at the end of each test."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from yolops.identity import KeyStore
from yolops.serve.config import ServeConfig
from yolops.serve.server import background_server

from serve_support import encode, export_tiny, scene


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-models")
    export_tiny(root / "a.onnx", ("a", "b", "c"), seed=0)
    export_tiny(root / "b.onnx", ("x", "y", "z"), seed=1)
    return root


@pytest.fixture
def model_path(models_dir, tmp_path) -> Path:
    """A model file of this test's own (tests may replace it)."""
    path = tmp_path / "model.onnx"
    path.write_bytes((models_dir / "a.onnx").read_bytes())
    return path


@pytest.fixture
def png() -> bytes:
    return encode(scene())


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ws' / 'yolops.db'}"


@pytest.fixture
def keys(db_url) -> dict[str, str]:
    store = KeyStore(db_url)
    return {role: store.create(f"test-{role}", role)[0] for role in ("predict", "admin")}


@pytest.fixture
def serve(model_path, db_url, tmp_path):
    """``with serve(**config) as server:`` a running server (``server.url``)."""

    @contextmanager
    def start(**overrides):
        cfg = dict(
            model=str(model_path),
            port=0,
            database_url=db_url,
            workspace=str(tmp_path / "ws"),
            reload_interval=0,
        )
        cfg.update(overrides)
        with background_server(ServeConfig(**cfg)) as server:
            yield server

    return start
