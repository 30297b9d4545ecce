"""Helpers shared by the server tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from yolops.data.synth import SynthConfig, render_scene
from yolops.infer.export import export_onnx
from yolops.model.yolo import build_model

IMGSZ = 128


def export_tiny(path: Path, names: tuple[str, ...], seed: int) -> Path:
    """A random-init n model that emits boxes, exported (dynamic batch, imgsz 128).

    A fresh model's activations collapse (BatchNorm running stats 0/1), so it would
    find nothing; one training-mode pass with momentum 1 gives them real scale, and
    the class bias puts the top ~1% of logits above 0."""
    import torch
    from torch import nn

    from yolops.infer.predictor import prepare_batch

    torch.manual_seed(seed)
    model = build_model("n", len(names))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
    x = torch.from_numpy(prepare_batch([scene(160, 120, s) for s in range(4)], IMGSZ)[0])
    with torch.no_grad():
        model.train()
        model(x)
        model.eval()
        logits = model(x).cls_logits
        for cls in model.head.cls:
            cls[-1].bias.sub_(logits.mean() + 2.3 * logits.std())
    return export_onnx(model, path, imgsz=IMGSZ, class_names=list(names), dynamic_batch=True)


def scene(width: int = 160, height: int = 120, seed: int = 0) -> np.ndarray:
    small = min(width, height)
    config = SynthConfig(
        min_size=min(16, small // 4), max_size=max(small // 4 + 1, min(96, small // 2))
    )
    return render_scene(np.random.default_rng(seed), width, height, config).image


def encode(image: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt)
    return buf.getvalue()


def files(*blobs: bytes, field: str = "images") -> list:
    return [(field, (f"img{i}.png", blob, "image/png")) for i, blob in enumerate(blobs)]


@dataclass
class Load:
    """What :func:`steady_load` saw: status codes counted, model versions in order."""

    statuses: Counter = field(default_factory=Counter)
    versions: list[str] = field(default_factory=list)


@contextmanager
def steady_load(url: str, key: str, blob: bytes, clients: int = 4) -> Iterator[Load]:
    """``clients`` threads POSTing ``blob`` to /v1/predict back to back until the
    block ends (then they finish their request and stop)."""
    load, stop = Load(), threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v1/predict", files=files(blob))
                load.statuses[r.status_code] += 1
                if r.status_code == 200:
                    load.versions.append(r.json()["model"]["version"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        yield load
    finally:
        stop.set()
        for t in threads:
            t.join()


def wait_for(condition, what: str, timeout: float = 60) -> None:
    """Wait until ``condition()`` holds: an event, with a deadline generous enough for
    a machine whose CPUs are busy with other work."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)
