"""Load test of `yolops serve` on loopback: latency, throughput, errors, memory.

Starts the server as its own process (API keys on, prediction log on: as in
production), then for each concurrency level sends ``--requests`` POST /v1/predict
requests (one 640x480 JPEG each) from that many concurrent clients, after a short
warmup, and reports p50/p99 latency, images per second, errors (must be 0) and the
server's resident memory (sampled every 0.25 s; it must stay flat). A second server
with ``--max-batch 1`` under the highest concurrency isolates what micro-batching
adds. The headline ratio is images/s of the batched server at the highest
concurrency over images/s of sequential batch-1 calls (concurrency 1).

    .venv/bin/python bench/bench_serve.py [--requests 2000] [--concurrency 1 8 32] [--imgsz 320]

Bounded: each level also stops after ``--max-seconds``. The client runs on the same
cores as the server, so absolute figures understate a server with its own machine.
Prints a Rich table and saves bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from yolops import __version__
from yolops.data.synth import SynthConfig, render_scene
from yolops.infer.export import export_onnx
from yolops.model.yolo import build_model
from yolops.serve.auth import KeyStore
from yolops.train.device import cpu_count

HERE = Path(__file__).resolve().parent
LOCK = Path("/tmp/yolops-bench.lock")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """`yolops serve` in a child process, its memory sampled on a thread."""

    def __init__(self, model: Path, db_url: str, workspace: Path, max_batch: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "yolops.cli.main", "serve", "--model", str(model), "--port", str(self.port),
             "--database-url", db_url, "--workspace", str(workspace), "--max-batch", str(max_batch),
             "--reload-interval", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.samples: list[float] = []
        self._stop = threading.Event()
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited: {self.proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready in 120 s")
            time.sleep(0.2)
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mb(self.proc.pid))
            time.sleep(0.25)

    def mark(self) -> int:
        return len(self.samples)

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(30)


async def load(url: str, key: str, image: bytes, requests: int, concurrency: int, max_seconds: float) -> dict:
    """``requests`` predictions from ``concurrency`` clients; latencies in ms."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    batch_sizes: list[int] = []
    issued = 0
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < requests and time.perf_counter() < deadline:
            issued += 1
            start = time.perf_counter()
            try:
                r = await client.post("/v1/predict", files=[("images", ("scene.jpg", image, "image/jpeg"))])
                ok = r.status_code == 200
                what = str(r.status_code)
            except httpx.HTTPError as e:
                ok, what = False, type(e).__name__
            if ok:
                latencies.append((time.perf_counter() - start) * 1000)
                batch_sizes.append(r.json()["batch_size"])
            else:
                errors[what] = errors.get(what, 0) + 1

    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=60, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    done = len(latencies)
    return {
        "concurrency": concurrency, "requests": done + sum(errors.values()), "errors": sum(errors.values()),
        "error_kinds": errors, "seconds": round(wall, 2), "images_per_s": round(done / wall, 1),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies else None,
        "mean_batch": round(statistics.fmean(batch_sizes), 2) if batch_sizes else None,
    }


def run_level(server: Server, key: str, image: bytes, args, concurrency: int, label: str) -> dict:
    asyncio.run(load(server.url, key, image, args.warmup, concurrency, 30))
    first = server.mark()
    result = asyncio.run(load(server.url, key, image, args.requests, concurrency, args.max_seconds))
    rss = server.samples[first:] or [rss_mb(server.proc.pid)]
    result.update(server=label, rss_start_mb=round(rss[0], 1), rss_end_mb=round(rss[-1], 1),
                  rss_max_mb=round(max(rss), 1))
    return result


def log_dropped(url: str) -> float:
    """Prediction log entries the server dropped (its queue was full)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("yolops_prediction_log_dropped_total "):
            return float(line.split()[1])
    return float("nan")


def print_table(rows: list[dict], console: Console) -> None:
    table = Table(title="yolops serve on loopback (POST /v1/predict, one 640x480 JPEG per request)",
                  title_justify="left")
    for col in ("server", "clients", "requests", "errors", "p50 ms", "p99 ms", "images/s", "mean batch",
                "RSS MB start → end (max)"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for r in rows:
        errors = f"[red]{r['errors']}[/]" if r["errors"] else "0"
        table.add_row(r["server"], str(r["concurrency"]), str(r["requests"]), errors, str(r["p50_ms"]),
                      str(r["p99_ms"]), str(r["images_per_s"]), str(r["mean_batch"]),
                      f"{r['rss_start_mb']} → {r['rss_end_mb']} ({r['rss_max_mb']})")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=35.0, help="Cap on each level's duration.")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve.json")
    args = parser.parse_args()
    console = Console()
    image = _jpeg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="yolops-bench-serve-") as tmp:
        tmp = Path(tmp)
        model = export_onnx(build_model("n", 3), tmp / "model.onnx", imgsz=args.imgsz,
                            class_names=["a", "b", "c"], dynamic_batch=True)
        db_url = f"sqlite:///{tmp / 'yolops.db'}"
        key, _ = KeyStore(db_url).create("bench", "predict")
        for label, max_batch, levels in ((f"batched (max {args.max_batch})", args.max_batch, args.concurrency),
                                         ("batch 1", 1, [max(args.concurrency)])):
            server = Server(model, db_url, tmp, max_batch)
            try:
                for c in levels:
                    with console.status(f"{label}: {args.requests} requests from {c} clients …"):
                        rows.append(run_level(server, key, image, args, c, label))
                rows[-1]["log_dropped"] = log_dropped(server.url)
            finally:
                server.stop()
            rss = server.samples
            rows[-1]["rss_whole_run_mb"] = {"first": round(rss[0], 1), "last": round(rss[-1], 1),
                                            "max": round(max(rss), 1)}
    print_table(rows, console)
    sequential = rows[0]["images_per_s"]
    top = max(args.concurrency)
    batched = next(r for r in rows if r["server"].startswith("batched") and r["concurrency"] == top)
    unbatched = next(r for r in rows if r["server"] == "batch 1")
    ratios = {"batched_over_sequential": round(batched["images_per_s"] / sequential, 2),
              "batched_over_unbatched_same_concurrency": round(batched["images_per_s"] / unbatched["images_per_s"], 2)}
    console.print(f"Throughput, batched server at {top} clients over sequential batch-1 calls: "
                  f"[bold]{ratios['batched_over_sequential']}x[/]; over a batch-1 server at {top} clients: "
                  f"[bold]{ratios['batched_over_unbatched_same_concurrency']}x[/]. "
                  f"Errors: {sum(r['errors'] for r in rows)}. Prediction log entries dropped: "
                  f"{sum(r.get('log_dropped', 0) for r in rows):.0f}.")
    result = {"yolops": __version__, "python": platform.python_version(), "cpus": cpu_count(),
              "imgsz": args.imgsz, "image": "640x480 JPEG", "requests_per_level": args.requests,
              "rows": rows, "ratios": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"Saved {args.out}")


def _jpeg() -> bytes:
    import cv2

    scene = render_scene(np.random.default_rng(0), 640, 480, SynthConfig()).image
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(scene, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


if __name__ == "__main__":
    if LOCK.exists():
        raise SystemExit(f"{LOCK} exists: another timed benchmark is running; try again when it is gone")
    LOCK.write_text(f"bench_serve.py pid {os.getpid()}\n")
    try:
        main()
    finally:
        LOCK.unlink(missing_ok=True)
