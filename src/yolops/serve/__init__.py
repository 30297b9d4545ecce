"""Serving: a REST API over a detector, with API keys, micro-batching, metrics,
hot reload and a prediction log.

    from yolops.serve import ServeConfig, build_app, run_server
    run_server(ServeConfig(model="best.onnx", port=8000))
"""

from yolops._lazy import lazy_exports
from yolops.serve.config import ServeConfig

__all__ = ["ServeConfig", "build_app", "run_server"]


# FastAPI and ONNX Runtime load only when a server is wanted.
__getattr__, __dir__ = lazy_exports(
    __name__, {"build_app": "yolops.serve.app", "run_server": "yolops.serve.server"}
)
