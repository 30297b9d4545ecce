"""Micro-batching with a fake model: batches form under concurrency, each request
gets its own images' results, limits hold, a failing batch fails only itself."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from yolops.detections import Detections
from yolops.errors import Overloaded
from yolops.serve.batching import MicroBatcher, PredictParams
from yolops.serve.metrics import ServeMetrics

PARAMS = PredictParams(0.25, 0.7, 300)


class FakePredictor:
    """Returns one box per image whose score is the image's first pixel / 255, so a
    result can be traced back to its image. Records every batch it ran."""

    class_names = ("a",)
    imgsz = 32

    def __init__(self, delay: float = 0.02, fail_on: int | None = None):
        self.delay, self.fail_on = delay, fail_on
        self.batches: list[int] = []
        self.threads: set[int] = set()

    def predict(self, images, conf=0.25, iou=0.7, max_det=300):
        self.batches.append(len(images))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        if self.fail_on is not None and any(int(i[0, 0, 0]) == self.fail_on for i in images):
            raise RuntimeError("model failure")
        return [
            Detections([[0, 0, 1, 1]], [i[0, 0, 0] / 255], [0], self.class_names) for i in images
        ]


def model(predictor):
    return SimpleNamespace(predictor=predictor, ref=SimpleNamespace(name="fake", version="1"))


def image(value: int) -> np.ndarray:
    return np.full((4, 4, 3), value, np.uint8)


async def _run(batcher, requests):
    await batcher.start()
    try:
        return await asyncio.gather(
            *(batcher.predict(r, PARAMS) for r in requests), return_exceptions=True
        )
    finally:
        await batcher.stop()


def test_concurrent_requests_share_batches_and_get_their_own_results():
    fake = FakePredictor()
    m = model(fake)
    batcher = MicroBatcher(lambda: m, ServeMetrics(), max_batch=8, max_wait_ms=5)
    requests = [[image(v)] for v in range(20)] + [[image(100), image(101), image(102)]]
    results = asyncio.run(_run(batcher, requests))
    for req, res in zip(requests, results):
        assert [round(float(d.scores[0]) * 255) for d in res.detections] == [
            int(i[0, 0, 0]) for i in req
        ]
    assert sum(fake.batches) == 23
    assert max(fake.batches) <= 8 and max(fake.batches) > 1  # batched, never over the limit
    assert len(fake.batches) < 21
    assert len(fake.threads) == 1  # one inference thread


def test_a_lone_request_waits_at_most_max_wait():
    fake = FakePredictor(delay=0)
    m = model(fake)
    batcher = MicroBatcher(lambda: m, ServeMetrics(), max_batch=8, max_wait_ms=20)

    async def one():
        await batcher.start()
        start = time.perf_counter()
        await batcher.predict([image(1)], PARAMS)
        took = time.perf_counter() - start
        await batcher.stop()
        return took

    # Alone, it runs alone after max_wait rather than waiting for company: the deadline
    # only tells "after a few milliseconds" from "never", on however busy a machine.
    assert asyncio.run(one()) < 10
    assert fake.batches == [1]


def test_full_queue_is_overloaded_not_a_hang():
    fake = FakePredictor(delay=0.2)
    m = model(fake)
    batcher = MicroBatcher(lambda: m, ServeMetrics(), max_batch=2, max_wait_ms=0, max_queue=4)
    results = asyncio.run(_run(batcher, [[image(v)] for v in range(12)]))
    refused = [r for r in results if isinstance(r, Overloaded)]
    served = [r for r in results if not isinstance(r, Exception)]
    assert refused and served and len(refused) + len(served) == 12
    assert "waiting" in str(refused[0])


def test_a_failing_batch_fails_its_requests_only():
    fake = FakePredictor(delay=0.01, fail_on=7)
    m = model(fake)
    batcher = MicroBatcher(lambda: m, ServeMetrics(), max_batch=1, max_wait_ms=0)
    results = asyncio.run(_run(batcher, [[image(v)] for v in range(10)]))
    assert isinstance(results[7], RuntimeError)
    assert all(not isinstance(r, Exception) for i, r in enumerate(results) if i != 7)


def test_mixed_parameters_run_separately_in_one_batch():
    calls = []

    class Recording(FakePredictor):
        def predict(self, images, conf=0.25, iou=0.7, max_det=300):
            calls.append((len(images), conf))
            return super().predict(images)

    m = model(Recording(delay=0))
    batcher = MicroBatcher(lambda: m, ServeMetrics(), max_batch=8, max_wait_ms=50)

    async def go():
        await batcher.start()
        out = await asyncio.gather(
            batcher.predict([image(1)], PARAMS),
            batcher.predict([image(2)], PredictParams(0.5, 0.7, 300)),
            batcher.predict([image(3)], PARAMS),
        )
        await batcher.stop()
        return out

    results = asyncio.run(go())
    assert sorted(calls) == [(1, 0.5), (2, 0.25)]
    assert [r.batch_size for r in results] == [3, 3, 3]


def test_stopped_batcher_refuses():
    m = model(FakePredictor())
    batcher = MicroBatcher(lambda: m, ServeMetrics())
    with pytest.raises(Overloaded):
        asyncio.run(batcher.predict([image(1)], PARAMS))
