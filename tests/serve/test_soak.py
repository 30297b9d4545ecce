"""A bounded soak: `yolops serve` in its own process (keys and prediction log on)
under 8 concurrent clients serves every request, and its memory after warm-up stays
flat. Memory is judged against requests served, never against time."""

from __future__ import annotations

import asyncio

from yolops.identity import KeyStore
from yolops.serve.loadtest import ServerProcess, load, memory_trend

from serve_support import encode, scene

GROWTH_LIMIT_MB = 60  # generous: a leak of ~1 KB per request over the soak fits well under it


def test_soak_serves_every_request_with_flat_memory(models_dir, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'yolops.db'}"
    key, _ = KeyStore(db_url).create("soak", "predict")
    image = encode(scene(160, 120, 4))
    with ServerProcess(models_dir / "a.onnx", db_url, tmp_path, max_batch=8) as server:
        warm = asyncio.run(load(server.url, key, image, 100, 8, 120, content_type="image/png"))
        soak = asyncio.run(
            load(
                server.url,
                key,
                image,
                800,
                8,
                240,
                pid=server.pid,
                sample_every=0.05,
                content_type="image/png",
            )
        )
    assert warm["errors"] == 0 and soak["errors"] == 0, (warm["error_kinds"], soak["error_kinds"])
    assert soak["requests"] == 800
    memory = soak["memory"]
    assert memory is not None and memory["samples"] >= 8, memory
    assert memory["growth_mb"] < GROWTH_LIMIT_MB, memory
    assert memory["requests"] > 600  # the samples span the soak, not a corner of it


def test_memory_trend_of_flat_and_growing_samples():
    flat = [(i * 0.25, i * 10, 300.0 + (i % 3) * 0.5) for i in range(40)]
    m = memory_trend(flat)
    assert abs(m["growth_mb"]) <= 0.5 and abs(m["mb_per_1000_requests"]) < 0.1
    leak = [(i * 0.25, i * 10, 300.0 + i * 0.1) for i in range(40)]  # 0.1 MB per 10 requests
    m = memory_trend(leak)
    assert m["mb_per_1000_requests"] == 10.0 and m["growth_mb"] == 3.0 and m["requests"] == 390
