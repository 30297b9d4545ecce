"""Where yolops keeps its state: one workspace directory, its database, and a
tracking server when there is one. Every surface resolves it the same way.

    ws = Workspace.resolve()                      # ./yolops-workspace, or $YOLOPS_HOME
    ws = Workspace.resolve("team-ws", tracking_uri="http://127.0.0.1:5000",
                           database_url="postgresql+pg8000://yolops@db/yolops")

Embedded by default: MLflow's backend store is ``sqlite:///<root>/mlflow.db`` and
artifacts live under ``<root>/artifacts``; no server to start. Dataset versions keep
image bytes in ``<root>/objects`` (or ``$YOLOPS_OBJECT_STORE``) and the rest in the
workspace database. A tracking URI
(``--tracking-uri`` or ``$MLFLOW_TRACKING_URI``) points tracking, the registry and
artifacts at a real MLflow server instead. The workspace database (API keys, users,
the prediction log: :mod:`yolops.db`) is ``sqlite:///<root>/yolops.db`` unless
``--database-url`` or ``$YOLOPS_DATABASE_URL`` names another. Local files (run
folders, the sweep storage, the model cache, saved samples) stay under the root.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "yolops-workspace"
DEFAULT_EXPERIMENT = "yolops"

# Nothing leaves the machine: MLflow's usage telemetry is off before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# A server that is down must not stall a training for minutes of retries (MLflow's
# defaults: 7 retries with exponential back-off, 120 s timeout).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def quiet_mlflow() -> None:
    """MLflow's INFO lines (schema migrations, input example checks) and download
    progress bars are noise in our terminal; its warnings and errors still show."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow is imported where it is first needed, here and below, deliberately: every
    # floor imports the workspace, and the server and the data commands never need MLflow.
    import mlflow  # noqa: F401  (it sets its loggers' levels on import: set ours after)

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Workspace:
    """A workspace root, the MLflow tracking URI its runs and models go to, and the
    SQLAlchemy URL of its database."""

    root: Path
    tracking_uri: str
    database_url: str = ""  # "" = the SQLite file in the root

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.root / 'yolops.db'}")

    @classmethod
    def resolve(
        cls,
        root: str | Path | None = None,
        tracking_uri: str | None = None,
        database_url: str | None = None,
    ) -> Workspace:
        """``root``, else ``$YOLOPS_HOME``, else ``./yolops-workspace``; ``tracking_uri``,
        else ``$MLFLOW_TRACKING_URI``, else the embedded SQLite store in the root;
        ``database_url``, else ``$YOLOPS_DATABASE_URL``, else ``<root>/yolops.db``."""
        base = Path(root or os.environ.get("YOLOPS_HOME") or DEFAULT_ROOT).expanduser().absolute()
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        db = database_url or os.environ.get("YOLOPS_DATABASE_URL") or ""
        return cls(base, uri or f"sqlite:///{base / 'mlflow.db'}", db)

    @property
    def embedded(self) -> bool:
        """Whether tracking goes to the workspace's own SQLite store (no server)."""
        return self.tracking_uri == f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str | None:
        """Where new experiments keep artifacts: the workspace for the embedded store;
        None (the server decides) for a tracking server."""
        return (self.root / "artifacts").as_uri() if self.embedded else None

    @property
    def runs_dir(self) -> Path:
        """Local training run folders."""
        return self.root / "runs" / "train"

    @property
    def sweeps_dir(self) -> Path:
        return self.root / "sweeps"

    @property
    def optuna_storage(self) -> str:
        """Optuna's RDB storage for sweeps, so an interrupted sweep resumes."""
        return f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def samples_dir(self) -> Path:
        """Images the server saved for labeling."""
        return self.root / "samples"

    @property
    def monitoring_dir(self) -> Path:
        """Monitoring reports."""
        return self.root / "monitoring"

    @property
    def predict_dir(self) -> Path:
        """What `yolops predict --save/--json` writes, unless told otherwise."""
        return self.root / "predict"

    @property
    def object_store(self) -> str:
        """Where dataset versions keep image bytes: ``$YOLOPS_OBJECT_STORE`` (a folder or
        any fsspec URL, e.g. ``s3://bucket/yolops``) or ``<root>/objects``."""
        return os.environ.get("YOLOPS_OBJECT_STORE") or str(self.root / "objects")

    @property
    def object_cache(self) -> Path:
        """Local copies of a remote object store's images, for training to read."""
        return self.root / "cache" / "objects"

    @property
    def model_cache(self) -> Path:
        """Downloaded registered model versions (immutable, so cached by version)."""
        return self.root / "cache" / "models"

    def describe(self) -> str:
        where = "embedded SQLite store" if self.embedded else f"tracking server {self.tracking_uri}"
        return f"workspace {self.root} ({where})"

    def client(self):
        """An ``MlflowClient`` on this workspace; the store is created on first use."""
        self.prepare()
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def prepare(self) -> None:
        """Create the root and, for the embedded store, the database. Two processes
        starting at once on a fresh workspace would both run MLflow's schema
        migrations; a file lock lets one create it while the other waits."""
        self.root.mkdir(parents=True, exist_ok=True)
        quiet_mlflow()
        if not self.embedded or (self.root / ".mlflow-ready").exists():
            return
        with self.lock("mlflow-init"):
            if (self.root / ".mlflow-ready").exists():
                return
            from mlflow.tracking._tracking_service.utils import _get_store

            _get_store(self.tracking_uri)  # runs the migrations
            (self.root / ".mlflow-ready").touch()

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive, process-wide lock on ``<root>/.<name>.lock``."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextmanager
    def active(self) -> Iterator[None]:
        """Point MLflow's fluent API (``mlflow.start_run``, ``log_model``) at this
        workspace for the duration, then put back exactly what was there: MLflow
        also exports the URI to the environment, where a later command would read it."""
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        self.prepare()
        saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        saved = tracking_utils._tracking_uri, registry_utils._registry_uri
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(saved[0])
            registry_utils._registry_uri = saved[1]
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
