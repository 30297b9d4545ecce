"""Hot reload: poll the model source, load a new version in the background, swap.

The served model is one reference (:class:`ModelHolder`); the batch worker reads it
once per batch, so a swap is a single assignment: batches before it finish on the
old model, batches after it run on the new one, and no request waits or fails.
A version that fails to load is reported (``/v1/models``, a metric, the log) and
the old one keeps serving. So does a source that cannot be asked (a registry
server that is down): the outage is logged and counted once when it begins, not
on every poll and not again when the error's text changes (a dying server says
"no alias", then "connection refused", then 503), and its end is logged once; an
outage after that is a new one, reported again.
"""

from __future__ import annotations

import asyncio
import logging

from yolops.serve.batching import cancel_and_wait
from yolops.serve.metrics import ServeMetrics
from yolops.serve.source import LoadedModel, ModelSource, load_model

log = logging.getLogger(__name__)


class ModelHolder:
    """The model being served; swapped whole, never modified."""

    def __init__(self, model: LoadedModel):
        self.current = model

    def __call__(self) -> LoadedModel:
        return self.current


class ModelWatcher:
    def __init__(
        self,
        source: ModelSource,
        holder: ModelHolder,
        metrics: ServeMetrics,
        fingerprint: str,
        interval: float = 2.0,
        threads: int = 0,
    ):
        self.source = source
        self.holder = holder
        self.metrics = metrics
        self.interval = interval
        self.threads = threads
        self.last_error: str | None = None
        self._source_down = False  # the source cannot be asked: an outage, reported once
        self._fingerprint = fingerprint
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.create_task(self._poll(), name="yolops-model-watcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check()

    async def check(self) -> bool:
        """Reload when the source changed; True when a new version is now served."""
        async with self._lock:  # a forced check and the poll never load twice at once
            try:
                fingerprint = await asyncio.to_thread(self.source.fingerprint)
                changed = fingerprint != self._fingerprint
                ref = await asyncio.to_thread(self.source.resolve) if changed else None
            except Exception as e:  # the store is down, the file is gone: keep serving, ask again
                self._source_failed(str(e) or type(e).__name__)
                return False
            if self._source_down:
                log.warning("model source %s answers again", self.source.describe())
                self._source_down = False
                self.last_error = None
            if ref is None:
                return False
            self._fingerprint = fingerprint  # a broken model is tried once, not on every poll
            if ref.version == self.holder.current.ref.version:
                return False
            try:
                model = await asyncio.to_thread(load_model, ref, self.threads)
            except Exception as e:  # whatever went wrong, the old model keeps serving
                self.last_error = str(e) or type(e).__name__
                self.metrics.reloads.labels(result="failed").inc()
                log.error(
                    "model reload from %s failed, still serving version %s: %s",
                    self.source.describe(),
                    self.holder.current.ref.version,
                    self.last_error,
                )
                return False
            old = self.holder.current.ref.version
            self.holder.current = model
            self.last_error = None
            self.metrics.set_model(model.ref.name, model.ref.version)
            self.metrics.reloads.labels(result="ok").inc()
            log.warning(
                "model reloaded: %s version %s -> %s", model.ref.name, old, model.ref.version
            )
            return True

    def _source_failed(self, error: str) -> None:
        """Report a source that cannot be asked (or whose new version cannot be
        fetched) once per outage: from the first failing check to the next one that
        succeeds. A registry server that is down would otherwise log every
        ``interval`` seconds, and the text of its errors is no key to the outage: it
        changes while the server goes away (the alias, then the connection, then a
        503) and between two queries of one check. The latest error is what
        ``/v1/models`` and a forced reload show. It is asked again on every poll."""
        self.last_error = error
        if self._source_down:
            log.debug("model source %s still fails: %s", self.source.describe(), error)
            return
        self._source_down = True
        self.metrics.reloads.labels(result="failed").inc()
        log.error(
            "cannot check %s for a new model, still serving version %s (logged once per "
            "outage): %s",
            self.source.describe(),
            self.holder.current.ref.version,
            error,
        )
