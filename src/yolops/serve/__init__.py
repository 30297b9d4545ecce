"""Serving: a REST API over a detector, with API keys, micro-batching, metrics,
hot reload and a prediction log.

    from yolops.serve import ServeConfig, build_app, run_server
    run_server(ServeConfig(model="best.onnx", port=8000))
"""

from yolops.serve.config import ServeConfig

__all__ = ["ServeConfig", "build_app", "run_server"]


def __getattr__(name: str):
    # FastAPI and ONNX Runtime load only when a server is wanted.
    if name == "build_app":
        from yolops.serve.app import build_app

        return build_app
    if name == "run_server":
        from yolops.serve.server import run_server

        return run_server
    raise AttributeError(f"module 'yolops.serve' has no attribute {name!r}")
