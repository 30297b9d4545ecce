"""Dynamic micro-batching: requests queue up, one worker runs them in batches.

The worker takes the first waiting request, then everything already waiting, then
waits at most ``max_wait_ms`` for more, up to ``max_batch`` images (a request's
images are never split). While a batch runs, the next one gathers, so under load
batches fill without waiting and at low load a request waits at most
``max_wait_ms``. Inference runs on one dedicated thread, so ONNX Runtime's
intra-op threads are the whole CPU budget of inference and never compete with a
second run. Each batch reads the current model once: a hot swap takes effect
between batches and never inside one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from yolops.detections import Detections
from yolops.errors import Overloaded
from yolops.serve.metrics import ServeMetrics
from yolops.serve.source import LoadedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictParams:
    conf: float
    iou: float
    max_det: int


@dataclass
class _Job:
    images: list[np.ndarray]
    params: PredictParams
    future: asyncio.Future = field(repr=False)
    sizes: list[tuple[int, int] | None] | None = None  # original (width, height) of reduced images


@dataclass(frozen=True)
class BatchResult:
    detections: list[Detections]
    model: LoadedModel
    batch_size: int  # images in the inference run this request was part of


class MicroBatcher:
    def __init__(
        self,
        current_model: Callable[[], LoadedModel],
        metrics: ServeMetrics,
        max_batch: int = 8,
        max_wait_ms: float = 2.0,
        max_queue: int = 256,
    ):
        self.current_model = current_model
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.waiting = 0  # images queued, not yet running
        self._jobs: deque[_Job] = deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yolops-infer")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="yolops-batcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._executor.shutdown(wait=True)

    async def predict(
        self,
        images: list[np.ndarray],
        params: PredictParams,
        sizes: list[tuple[int, int] | None] | None = None,
    ) -> BatchResult:
        """Detections for ``images`` (RGB uint8), in order; :class:`Overloaded` when the
        queue is full. ``sizes``: per image None, or the original (width, height) it was
        reduced from."""
        if not self.running or self._arrived is None:
            raise Overloaded("the server is not accepting requests (starting or stopping)")
        if self.waiting + len(images) > self.max_queue:
            raise Overloaded(
                f"{self.waiting} images are waiting (limit {self.max_queue}); retry shortly"
            )
        job = _Job(images, params, asyncio.get_running_loop().create_future(), sizes)
        self._add_waiting(len(images))
        self._jobs.append(job)
        self._arrived.set()
        return await job.future

    def _add_waiting(self, n: int) -> None:
        self.waiting += n
        self.metrics.queue_depth.set(self.waiting)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            self._add_waiting(-sum(len(j.images) for j in batch))
            live = [j for j in batch if not j.future.done()]  # a client gone away is not run
            if not live:
                continue
            model = self.current_model()
            try:
                results = await loop.run_in_executor(
                    self._executor, _run_batch, model, live, self.metrics
                )
            except Exception as e:  # a model failure fails this batch's requests, never the worker
                log.exception("inference failed for a batch of %d requests", len(live))
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(e)
                continue
            size = sum(len(j.images) for j in live)
            for job, dets in zip(live, results):
                if not job.future.done():
                    job.future.set_result(BatchResult(dets, model, size))

    async def _gather(self) -> list[_Job]:
        # A deque and an Event rather than asyncio.Queue: timing out a wait on an Event
        # can never lose a job, whereas a cancelled Queue.get may on some Pythons.
        while not self._jobs:
            self._arrived.clear()
            await self._arrived.wait()
        batch, count = [self._jobs.popleft()], 0
        count = len(batch[0].images)
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while count < self.max_batch:
            if not self._jobs:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
                continue
            if count + len(self._jobs[0].images) > self.max_batch:
                break  # it leads the next batch
            job = self._jobs.popleft()
            batch.append(job)
            count += len(job.images)
        return batch


def _run_batch(
    model: LoadedModel, jobs: list[_Job], metrics: ServeMetrics
) -> list[list[Detections]]:
    """One inference run per distinct set of parameters (one run in the usual case)."""
    groups: dict[PredictParams, list[int]] = defaultdict(list)
    for i, job in enumerate(jobs):
        groups[job.params].append(i)
    out: list[list[Detections]] = [[] for _ in jobs]
    for params, members in groups.items():
        images = [image for i in members for image in jobs[i].images]
        sizes = [size for i in members for size in (jobs[i].sizes or [None] * len(jobs[i].images))]
        extra = (
            {"original_sizes": sizes} if any(sizes) else {}
        )  # predictors that never see reduced images
        start = time.perf_counter()
        dets = model.predictor.predict(
            images, conf=params.conf, iou=params.iou, max_det=params.max_det, **extra
        )
        metrics.inference.observe(time.perf_counter() - start)
        metrics.batch_size.observe(len(images))
        metrics.images.inc(len(images))
        offset = 0
        for i in members:
            n = len(jobs[i].images)
            out[i] = dets[offset : offset + n]
            offset += n
    return out


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task (None: nothing to do) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
