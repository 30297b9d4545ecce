"""Synthetic reference statistics and prediction-log rows for monitoring tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from yolops.track.reference import Reference

CLASSES = ("cat", "dog", "bird")
END = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def reference(n_images: int = 400, seed: int = 0) -> Reference:
    rng = np.random.default_rng(seed)
    inputs = {
        "brightness": rng.normal(120, 10, n_images).tolist(),
        "contrast": rng.normal(50, 5, n_images).tolist(),
        "sharpness": rng.normal(800, 80, n_images).tolist(),
        "width": [640.0] * n_images,
        "height": [480.0] * n_images,
    }
    return Reference(
        "shapes",
        "1",
        "shapes-data",
        "abc123",
        CLASSES,
        inputs,
        [_detections(rng, (0.6, 0.3, 0.1), 0.8) for _ in range(n_images // 2)],
    )


def _detections(rng, mix, confident: float) -> list[tuple[str, float]]:
    """Three to six boxes; a ``confident`` share scores 0.6..0.95, the rest 0.26..0.49,
    and a few below 0.25 that a server at conf 0.25 would not return."""
    out = []
    for _ in range(rng.integers(3, 7)):
        score = rng.uniform(0.6, 0.95) if rng.random() < confident else rng.uniform(0.26, 0.49)
        out.append((str(rng.choice(CLASSES, p=mix)), float(score)))
    out.append((CLASSES[0], float(rng.uniform(0.05, 0.2))))
    return out


def rows(
    n: int = 200,
    seed: int = 1,
    brightness: float = 120,
    mix=(0.6, 0.3, 0.1),
    confident: float = 0.8,
    version: str = "1",
    sample_path=None,
    width: float = 640,
) -> list[dict]:
    """Prediction-log rows as :func:`yolops.monitor.log.read_predictions` returns them,
    spread over the hour before END."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        dets = [d for d in _detections(rng, mix, confident) if d[1] >= 0.25]
        out.append(
            {
                "id": i,
                "time": END - timedelta(seconds=3600 * (n - i) / (n + 1)),
                "request_id": f"r{seed}-{i}",
                "model_name": "shapes",
                "model_version": version,
                "latency_ms": 5.0,
                "image_name": f"img{i}.jpg",
                "width": width,
                "height": 480,
                "brightness": float(rng.normal(brightness, 10)),
                "contrast": float(rng.normal(50, 5)),
                "sharpness": float(rng.normal(800, 80)),
                "num_boxes": len(dets),
                "classes": [c for c, _ in dets],
                "scores": [s for _, s in dets],
                "sample_path": sample_path(i) if sample_path else None,
            }
        )
    return out
