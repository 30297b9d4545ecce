"""Everything one running server holds, built at start-up and injected into routes."""

from __future__ import annotations

from dataclasses import dataclass

from anyio import CapacityLimiter

from yolops.identity import KeyStore
from yolops.monitor.log import PredictionLog
from yolops.serve.batching import MicroBatcher
from yolops.serve.config import ServeConfig
from yolops.serve.metrics import ServeMetrics
from yolops.serve.reload import ModelHolder, ModelWatcher
from yolops.serve.source import ModelSource


@dataclass
class ServerState:
    config: ServeConfig
    source: ModelSource
    metrics: ServeMetrics
    holder: ModelHolder
    batcher: MicroBatcher
    watcher: ModelWatcher
    keys: KeyStore | None  # None: auth is off
    prediction_log: PredictionLog | None
    decode_limiter: CapacityLimiter  # concurrent image decodes (one per core)
