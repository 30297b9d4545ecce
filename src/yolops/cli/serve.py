"""`yolops serve`: the inference REST API.

The library is imported inside each command, deliberately (start-up time): `yolops --help`
and every command start without loading torch, MLflow or FastAPI for the others."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.panel import Panel

from yolops.cli.console import console, err_console
from yolops.cli.tracking_options import TRACKING_URI
from yolops.errors import ConfigError


def serve(
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="What to serve: a model file (.onnx, or a .pt checkpoint) or a registry "
        "reference: NAME@ALIAS follows the alias (moving it reloads the server), "
        "NAME/VERSION, runs:/RUN_ID.",
    ),
    host: str = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1]."),
    port: int = typer.Option(
        None, "--port", "-p", help="Port [default: 8000; 0 picks a free one]."
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="YAML file of ServeConfig settings; flags override it."
    ),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Turn API keys off (local use only; says so loudly)."
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        envvar="YOLOPS_DATABASE_URL",
        help="SQLAlchemy URL of the key and prediction-log database "
        "[default: SQLite in the workspace].",
    ),
    workspace: str = typer.Option(
        None,
        "--workspace",
        "-w",
        envvar="YOLOPS_HOME",
        help="Workspace folder [default: ./yolops-workspace].",
    ),
    tracking_uri: str = TRACKING_URI,
    max_batch: int = typer.Option(
        None, "--max-batch", help="Most images per inference run [default: 8]."
    ),
    max_wait_ms: float = typer.Option(
        None, "--max-wait-ms", help="Longest wait to fill a batch [default: 2]."
    ),
    threads: int = typer.Option(
        None, "--threads", help="ONNX Runtime threads [default: 0 = every core]."
    ),
    reload_interval: float = typer.Option(
        None,
        "--reload-interval",
        help="Seconds between checks for a new model; 0 = off [default: 2].",
    ),
    sample_rate: float = typer.Option(
        None, "--log-sample-rate", help="Share of images saved for labeling [default: 0]."
    ),
    uncertain_below: float = typer.Option(
        None,
        "--log-uncertain-below",
        help="Also save every image most of whose boxes score below this "
        "(e.g. 0.5); 0 = off [default: 0].",
    ),
    no_log: bool = typer.Option(False, "--no-prediction-log", help="Do not log predictions."),
    tls_cert: str = typer.Option(
        None, "--tls-cert", help="TLS certificate (PEM); with --tls-key, serve HTTPS."
    ),
    tls_key: str = typer.Option(None, "--tls-key", help="TLS private key (PEM)."),
) -> None:
    # One line: Typer's list of commands keeps the line breaks of a help text.
    """Serve a detector over HTTP: POST /v1/predict, GET /v1/models, /healthz, /readyz, /metrics, /docs."""  # noqa: E501
    from yolops.serve.config import ServeConfig, load_serve_config
    from yolops.serve.server import run_server

    overrides = dict(
        model=model,
        host=host,
        port=port,
        database_url=database_url,
        workspace=workspace,
        tracking_uri=tracking_uri,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        threads=threads,
        reload_interval=reload_interval,
        log_sample_rate=sample_rate,
        log_uncertain_below=uncertain_below,
        tls_cert=tls_cert,
        tls_key=tls_key,
        auth=False if no_auth else None,
        prediction_log=False if no_log else None,
    )
    cfg = (
        load_serve_config(config, **overrides)
        if config
        else ServeConfig(**{k: v for k, v in overrides.items() if v is not None})
    )
    if not cfg.model:
        raise ConfigError(
            "no model to serve: give --model PATH or NAME@ALIAS (or `model:` in --config)"
        )
    if not cfg.auth:
        err_console.print(
            Panel(
                "[bold]API keys are OFF[/] (--no-auth): anyone who can reach this server can use "
                "it.\nUse this for local work only.",
                title="WARNING",
                style="bold red",
            )
        )
    scheme = "https" if cfg.tls else "http"
    console.print(
        f"Loading [bold]{cfg.model}[/] to serve on {scheme}://{cfg.host}:{cfg.port} "
        f"(docs at /docs, metrics at /metrics); Ctrl-C stops."
    )
    run_server(cfg)
