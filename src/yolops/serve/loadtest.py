"""Load and soak tests of `yolops serve`: a server process, concurrent clients, and
the server's memory measured against the requests it served.

    with ServerProcess("best.onnx", db_url, workspace) as server:
        result = asyncio.run(load(server.url, key, jpeg, requests=None, concurrency=8,
                                  max_seconds=600, pid=server.pid))
        result["memory"]   # growth_mb (last- vs first-quarter median RSS), mb_per_1000_requests

Used by ``bench/bench_serve.py`` (levels and ``--soak``) and the soak test. Memory
is what a soak judges: a server that leaks grows with the requests it serves, so
RSS is fitted against requests served, after a warm-up that is not measured.
"""

from __future__ import annotations

import asyncio
import math
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

from yolops.errors import YolopsError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (NaN when it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class ServerProcess:
    """`yolops serve` in a child process, as in production (API keys and the
    prediction log on, hot reload off); ready when the constructor returns."""

    def __init__(
        self,
        model: str | Path,
        db_url: str,
        workspace: str | Path,
        max_batch: int = 8,
        extra: Sequence[str] = (),
        start_timeout: float = 120.0,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile(
            "w+"
        )  # a pipe nobody reads could fill and stall the server
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "yolops.cli.main",
                "serve",
                "--model",
                str(model),
                "--port",
                str(self.port),
                "--database-url",
                db_url,
                "--workspace",
                str(workspace),
                "--max-batch",
                str(max_batch),
                "--reload-interval",
                "0",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                raise YolopsError(
                    f"the server exited with {self.proc.returncode}: {self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise YolopsError(
                    f"the server did not become ready in {start_timeout:.0f} s: {self.log_tail()}"
                )
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        self._log.seek(0)
        return self._log.read()[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


async def load(
    url: str,
    key: str,
    image: bytes,
    requests: int | None,
    concurrency: int,
    max_seconds: float,
    pid: int | None = None,
    sample_every: float = 0.25,
    content_type: str = "image/jpeg",
) -> dict:
    """``requests`` predictions (None: as many as fit in ``max_seconds``) from
    ``concurrency`` clients; latencies in ms. With ``pid``, the server's RSS is
    sampled every ``sample_every`` s with the number of requests done so far
    (``rss_samples``: seconds, requests, MB) and judged by :func:`memory_trend`
    (``memory``; None when the load was too short for 4 samples)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    batch_sizes: list[int] = []
    samples: list[tuple[float, int, float]] = []
    issued = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    name = "scene." + content_type.rsplit("/", 1)[-1]

    def done() -> int:
        return len(latencies) + sum(errors.values())

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while (requests is None or issued < requests) and time.perf_counter() < deadline:
            issued += 1
            sent = time.perf_counter()
            try:
                r = await client.post(
                    "/v1/predict", files=[("images", (name, image, content_type))]
                )
                ok = r.status_code == 200
                what = str(r.status_code)
            except httpx.HTTPError as e:
                ok, what = False, type(e).__name__
            if ok:
                latencies.append((time.perf_counter() - sent) * 1000)
                batch_sizes.append(r.json()["batch_size"])
            else:
                errors[what] = errors.get(what, 0) + 1

    async def sampler() -> None:
        while True:
            samples.append((time.perf_counter() - start, done(), rss_mb(pid)))
            await asyncio.sleep(sample_every)

    async with httpx.AsyncClient(
        base_url=url, headers={"X-API-Key": key}, timeout=60, limits=limits
    ) as client:
        watch = asyncio.create_task(sampler()) if pid is not None else None
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
        if watch is not None:
            watch.cancel()
            samples.append((wall, done(), rss_mb(pid)))
    n = len(latencies)
    result = {
        "concurrency": concurrency,
        "requests": done(),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(wall, 2),
        "images_per_s": round(n / wall, 1),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies else None,
        "mean_batch": round(statistics.fmean(batch_sizes), 2) if batch_sizes else None,
    }
    if pid is not None:
        result["rss_samples"] = [(round(t, 3), k, round(mb, 2)) for t, k, mb in samples]
        result["memory"] = (
            memory_trend(samples) if len(samples) >= 4 else None
        )  # too short to judge
    return result


def memory_trend(samples: Sequence[tuple[float, int, float]]) -> dict:
    """Is memory flat? From (seconds, requests done, RSS MB) samples taken after a
    warm-up: ``growth_mb`` = median RSS of the last quarter of samples minus that of
    the first quarter (robust to single spikes), and ``mb_per_1000_requests`` = the
    slope of a least-squares line of RSS against requests served."""
    rows = [(t, k, mb) for t, k, mb in samples if not math.isnan(mb)]  # NaN: the process was gone
    if len(rows) < 4:
        raise YolopsError(
            f"too few memory samples ({len(rows)}) to judge growth; run the load for longer"
        )
    rss = np.array([mb for _, _, mb in rows])
    served = np.array([k for _, k, _ in rows], float)
    quarter = max(1, len(rows) // 4)
    first, last = float(np.median(rss[:quarter])), float(np.median(rss[-quarter:]))
    slope = float(np.polyfit(served, rss, 1)[0]) if served[-1] > served[0] else 0.0
    return {
        "samples": len(rows),
        "requests": int(served[-1] - served[0]),
        "seconds": round(rows[-1][0] - rows[0][0], 1),
        "first_quarter_mb": round(first, 1),
        "last_quarter_mb": round(last, 1),
        "growth_mb": round(last - first, 1),
        "mb_per_1000_requests": round(slope * 1000, 3),
        "min_mb": round(float(rss.min()), 1),
        "max_mb": round(float(rss.max()), 1),
    }
