"""The serving step of `yolops demo`: start a server, ask it about one image, stop it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from yolops.errors import YolopsError


def serve_and_ask(
    model: str | Path, image: str | Path, workspace: str | Path | None = None, timeout: float = 60.0
) -> dict:
    """Serve ``model`` on 127.0.0.1 (a free port, API keys on, a fresh predict key),
    POST ``image`` to /v1/predict, stop the server and return the JSON answer:
    ``{"model": {"name", "version"}, "results": [{"name", "width", "height",
    "detections": [{"box", "score", "class_id", "class_name"}]}], "batch_size",
    "latency_ms", "url"}``. The key database and prediction log go to ``workspace``
    (a temporary folder when None)."""
    import httpx

    from yolops.identity import KeyStore
    from yolops.serve.config import ServeConfig
    from yolops.serve.server import background_server
    from yolops.workspace import Workspace

    image = Path(image)
    if not image.is_file():
        raise YolopsError(f"{image}: image file does not exist")
    with tempfile.TemporaryDirectory(prefix="yolops-serve-") as tmp:
        root = Path(workspace) if workspace else Path(tmp)
        url = (
            f"sqlite:///{root / 'yolops.db'}"
            if workspace is None
            else Workspace.resolve(root).database_url
        )
        key, _ = KeyStore(url).create("demo", role="predict")
        config = ServeConfig(
            model=str(model), port=0, database_url=url, workspace=str(root), reload_interval=0
        )
        with background_server(config) as server:
            with httpx.Client(
                base_url=server.url, timeout=timeout, headers={"Authorization": f"Bearer {key}"}
            ) as c:
                reply = c.post("/v1/predict", files=[("images", (image.name, image.read_bytes()))])
        if reply.status_code != 200:
            raise YolopsError(f"the server answered {reply.status_code}: {reply.text[:300]}")
        return {**reply.json(), "url": server.url}
