"""ServeConfig: every knob of the inference server, frozen and checked once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yolops import safe_yaml
from yolops.errors import ConfigError
from yolops.workspace import Workspace


@dataclass(frozen=True)
class ServeConfig:
    """How to serve. Sizes in bytes and pixels, times in milliseconds or seconds as named.

    ``auth=False`` turns API keys off (local use only; the server says so loudly).
    ``max_batch`` images are gathered for one inference run, waiting at most
    ``max_wait_ms`` after the first; ``max_queue`` images waiting at once is the
    most the server accepts before answering 503. ``threads`` is ONNX Runtime's
    intra-op thread count (0: every usable core); inference runs on one thread of
    requests at a time, so this is the whole CPU budget of inference.
    ``reload_interval`` (s) is how often the model source is polled; 0 turns hot
    reload off: for a registry alias (``model: shapes@production``) a poll is one
    registry query, and moving the alias swaps the new version in. The registry is
    the workspace's own store, or the MLflow server ``tracking_uri`` ("" =
    ``$MLFLOW_TRACKING_URI``, else the workspace's). ``log_sample_rate`` is the
    share of images saved for labeling; with ``log_uncertain_below`` > 0, every
    image most of whose boxes score below it is saved too.
    """

    model: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""  # "" = the workspace's (see Workspace.resolve)
    workspace: str = ""  # "" = $YOLOPS_HOME, else ./yolops-workspace
    tracking_uri: str = ""  # "" = $MLFLOW_TRACKING_URI, else the workspace's embedded store
    auth: bool = True
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_queue: int = 256
    threads: int = 0
    max_upload_bytes: int = 20 * 1024 * 1024
    max_header_bytes: int = 16 * 1024  # request line and headers; more: 431, JSON error
    max_pixels: int = 40_000_000
    max_images: int = 16
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    reload_interval: float = 2.0
    prediction_log: bool = True
    log_sample_rate: float = 0.0
    log_uncertain_below: float = 0.0
    log_queue: int = 1000
    tls_cert: str = ""
    tls_key: str = ""

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError("invalid serve configuration: " + "; ".join(problems))

    def replace(self, **changes: Any) -> ServeConfig:
        return dataclasses.replace(self, **changes)

    @property
    def resolved_workspace(self) -> Workspace:
        """The workspace this server keeps its state in: its database (API keys, the
        prediction log), its saved samples, and the registry a reference is resolved in."""
        return Workspace.resolve(
            self.workspace or None, self.tracking_uri or None, self.database_url or None
        )

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert)


def _problems(c: ServeConfig) -> list[str]:
    out = []
    positive = {
        "max_batch": c.max_batch,
        "max_queue": c.max_queue,
        "max_upload_bytes": c.max_upload_bytes,
        "max_header_bytes": c.max_header_bytes,
        "max_pixels": c.max_pixels,
        "max_images": c.max_images,
        "max_det": c.max_det,
        "log_queue": c.log_queue,
    }
    out += [f"{k} must be >= 1, got {v}" for k, v in positive.items() if v < 1]
    if not 0 <= c.port <= 65535:
        out.append(f"port must be in 0..65535, got {c.port}")
    if c.max_wait_ms < 0 or c.reload_interval < 0 or c.threads < 0:
        out.append("max_wait_ms, reload_interval and threads must be >= 0")
    if not 0 <= c.conf <= 1 or not 0 < c.iou <= 1:
        out.append(f"conf must be in [0, 1] and iou in (0, 1]; got {c.conf}, {c.iou}")
    if not 0 <= c.log_sample_rate <= 1:
        out.append(f"log_sample_rate must be in [0, 1], got {c.log_sample_rate}")
    if not 0 <= c.log_uncertain_below <= 1:
        out.append(f"log_uncertain_below must be in [0, 1], got {c.log_uncertain_below}")
    if bool(c.tls_cert) != bool(c.tls_key):
        out.append("TLS needs both a certificate and a key")
    for name in ("tls_cert", "tls_key"):
        path = getattr(c, name)
        if path and not Path(path).is_file():
            out.append(f"{name} {path}: file does not exist")
    return out


def load_serve_config(path: str | Path, **overrides: Any) -> ServeConfig:
    """A ServeConfig from a YAML mapping of its fields, then ``overrides`` (None values ignored)."""
    path = Path(path)
    try:
        data = safe_yaml.load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the serve configuration ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of serve settings, got {type(data).__name__}"
        )
    known = {f.name for f in dataclasses.fields(ServeConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown serve settings {unknown}; known: {sorted(known)}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ServeConfig(**data)
    except TypeError as e:
        raise ConfigError(f"{path}: {e}") from None
