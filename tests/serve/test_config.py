"""ServeConfig: checked once, loadable from YAML, flags override."""

from __future__ import annotations

import pytest

from yolops.errors import ConfigError
from yolops.serve.config import ServeConfig, load_serve_config
from yolops.workspace import Workspace


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("model: m.onnx\nmax_batch: 4\nport: 9000\n")
    cfg = load_serve_config(path, port=9100, host=None)
    assert (cfg.model, cfg.max_batch, cfg.port, cfg.host) == ("m.onnx", 4, 9100, "127.0.0.1")


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_bach: 4\n", "unknown serve settings"),
        ("- a\n- b\n", "expected a mapping"),
        ("max_batch: [\n", "not valid YAML"),
        ("max_batch: 0\n", "max_batch must be >= 1"),
        ("log_sample_rate: 2\n", "log_sample_rate"),
    ],
)
def test_bad_yaml_is_named(tmp_path, text, message):
    path = tmp_path / "serve.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_serve_config(path)


def test_database_defaults_to_the_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("YOLOPS_DATABASE_URL", raising=False)
    assert Workspace.resolve(tmp_path).database_url == f"sqlite:///{tmp_path / 'yolops.db'}"
    monkeypatch.setenv("YOLOPS_HOME", str(tmp_path / "home"))
    ws = ServeConfig().resolved_workspace
    assert ws.database_url == f"sqlite:///{tmp_path / 'home' / 'yolops.db'}"
    assert ws.samples_dir == tmp_path / "home" / "samples"
    monkeypatch.setenv("YOLOPS_DATABASE_URL", "postgresql://db.internal/yolops")
    assert ServeConfig().resolved_workspace.database_url == "postgresql://db.internal/yolops"
    given = ServeConfig(database_url="sqlite:////tmp/x.db").resolved_workspace
    assert given.database_url == "sqlite:////tmp/x.db"


def test_unusable_database_url_is_a_clear_error():
    from yolops.identity import KeyStore

    with pytest.raises(ConfigError, match="not a database URL"):
        KeyStore("no-scheme-here")
