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
    .venv/bin/python bench/bench_serve.py --soak 600 [--soak-concurrency 8] [--max-growth-mb 30]

Memory verdict (each level, and the soak): RSS after the warm-up, sampled with the
requests served so far; growth = median RSS of the last quarter of samples minus
that of the first quarter, and the least-squares slope in MB per 1,000 requests
(:func:`yolops.serve.loadtest.memory_trend`). ``--soak SECONDS`` keeps
``--soak-concurrency`` clients on one batched server for that long after
``--soak-warmup`` requests and saves bench/results/serve_soak.json. The script
exits 1 when any request failed or memory grew by more than ``--max-growth-mb``.

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
import tempfile
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from yolops._version import __version__
from yolops.data.synth import SynthConfig, render_scene
from yolops.device import cpu_count
from yolops.identity import KeyStore
from yolops.infer.export import export_onnx
from yolops.model.yolo import build_model
from yolops.serve.loadtest import ServerProcess, load

HERE = Path(__file__).resolve().parent
LOCK = Path("/tmp/yolops-bench.lock")


def run_level(
    server: ServerProcess, key: str, image: bytes, args, concurrency: int, label: str
) -> dict:
    asyncio.run(load(server.url, key, image, args.warmup, concurrency, 30))
    result = asyncio.run(
        load(server.url, key, image, args.requests, concurrency, args.max_seconds, pid=server.pid)
    )
    rss = [mb for _, _, mb in result["rss_samples"]]
    result.update(
        server=label,
        rss_start_mb=round(rss[0], 1),
        rss_end_mb=round(rss[-1], 1),
        rss_max_mb=round(max(rss), 1),
    )
    return result


def log_dropped(url: str) -> float:
    """Prediction log entries the server dropped (its queue was full)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("yolops_prediction_log_dropped_total "):
            return float(line.split()[1])
    return float("nan")


def print_table(rows: list[dict], console: Console) -> None:
    table = Table(
        title="yolops serve on loopback (POST /v1/predict, one 640x480 JPEG per request)",
        title_justify="left",
    )
    for col in (
        "server",
        "clients",
        "requests",
        "errors",
        "p50 ms",
        "p99 ms",
        "images/s",
        "mean batch",
        "RSS MB start → end (max)",
        "RSS growth MB (per 1k req)",
    ):
        table.add_column(col, justify="left" if col == "server" else "right")
    for r in rows:
        errors = f"[red]{r['errors']}[/]" if r["errors"] else "0"
        mem = r["memory"]
        growth = (
            f"{mem['growth_mb']:+.1f} ({mem['mb_per_1000_requests']:+.2f})" if mem else "too short"
        )
        table.add_row(
            r["server"],
            str(r["concurrency"]),
            str(r["requests"]),
            errors,
            str(r["p50_ms"]),
            str(r["p99_ms"]),
            str(r["images_per_s"]),
            str(r["mean_batch"]),
            f"{r['rss_start_mb']} → {r['rss_end_mb']} ({r['rss_max_mb']})",
            growth,
        )
    console.print(table)


def memory_verdict(memory: dict | None, limit_mb: float) -> tuple[bool, str]:
    """(flat, a sentence saying why) for a :func:`memory_trend` result."""
    if memory is None:
        return True, "too few memory samples to judge"
    flat = memory["growth_mb"] <= limit_mb
    return flat, (
        f"RSS after warm-up {memory['first_quarter_mb']} → {memory['last_quarter_mb']} MB "
        f"(median of the first vs last quarter of {memory['samples']} samples: "
        f"{memory['growth_mb']:+.1f} MB; fitted {memory['mb_per_1000_requests']:+.3f} MB per "
        f"1,000 requests over {memory['requests']} "
        f"requests): {'flat' if flat else 'GROWING'} (limit {limit_mb:g} MB)"
    )


def run_levels(
    model: Path, db_url: str, workspace: Path, key: str, image: bytes, args, console: Console
) -> dict:
    rows = []
    for label, max_batch, levels in (
        (f"batched (max {args.max_batch})", args.max_batch, args.concurrency),
        ("batch 1", 1, [max(args.concurrency)]),
    ):
        with ServerProcess(model, db_url, workspace, max_batch) as server:
            for c in levels:
                with console.status(f"{label}: {args.requests} requests from {c} clients …"):
                    rows.append(run_level(server, key, image, args, c, label))
            rows[-1]["log_dropped"] = log_dropped(server.url)
    print_table(rows, console)
    sequential = rows[0]["images_per_s"]
    top = max(args.concurrency)
    batched = next(r for r in rows if r["server"].startswith("batched") and r["concurrency"] == top)
    unbatched = next(r for r in rows if r["server"] == "batch 1")
    ratios = {
        "batched_over_sequential": round(batched["images_per_s"] / sequential, 2),
        "batched_over_unbatched_same_concurrency": round(
            batched["images_per_s"] / unbatched["images_per_s"], 2
        ),
    }
    console.print(
        f"Throughput, batched server at {top} clients over sequential batch-1 calls: "
        f"[bold]{ratios['batched_over_sequential']}x[/]; over a batch-1 server at {top} clients: "
        f"[bold]{ratios['batched_over_unbatched_same_concurrency']}x[/]. "
        f"Errors: {sum(r['errors'] for r in rows)}. Prediction log entries dropped: "
        f"{sum(r.get('log_dropped', 0) for r in rows):.0f}."
    )
    return {"requests_per_level": args.requests, "rows": rows, "ratios": ratios}


def run_soak(
    model: Path, db_url: str, workspace: Path, key: str, image: bytes, args, console: Console
) -> dict:
    """``--soak-concurrency`` clients on one batched server for ``--soak`` seconds."""
    c = args.soak_concurrency
    with ServerProcess(model, db_url, workspace, args.max_batch) as server:
        with console.status(f"soak warm-up: {args.soak_warmup} requests from {c} clients …"):
            warm = asyncio.run(load(server.url, key, image, args.soak_warmup, c, 300))
        with console.status(f"soak: {c} clients for {args.soak:g} s …"):
            result = asyncio.run(load(server.url, key, image, None, c, args.soak, pid=server.pid))
        result["log_dropped"] = log_dropped(server.url)
    result.update(
        server=f"batched (max {args.max_batch})",
        warmup_requests=warm["requests"],
        warmup_errors=warm["errors"],
        errors=result["errors"] + warm["errors"],
    )
    console.print(
        f"Soak: {result['requests']} requests from {c} clients in {result['seconds']} s "
        f"({result['images_per_s']} images/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms), "
        f"errors {result['errors']} (warm-up included), prediction log entries dropped "
        f"{result['log_dropped']:.0f}."
    )
    return {"soak_seconds": args.soak, "rows": [result]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--max-seconds", type=float, default=35.0, help="Cap on each level's duration."
    )
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument(
        "--soak",
        type=float,
        default=0,
        metavar="SECONDS",
        help="Instead of the levels: keep --soak-concurrency clients on for this long.",
    )
    parser.add_argument("--soak-concurrency", type=int, default=8)
    parser.add_argument(
        "--soak-warmup",
        type=int,
        default=3000,
        help="Requests before the soak is measured (RSS settled within ~2,500 at 8 clients).",
    )
    parser.add_argument(
        "--max-growth-mb",
        type=float,
        default=30.0,
        help="Fail when RSS grows more than this after warm-up (last vs first quarter).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="[default: bench/results/serve.json, or serve_soak.json with --soak]",
    )
    args = parser.parse_args()
    out = args.out or HERE / "results" / ("serve_soak.json" if args.soak else "serve.json")
    console = Console()
    image = _jpeg()
    with tempfile.TemporaryDirectory(prefix="yolops-bench-serve-") as tmp:
        tmp = Path(tmp)
        model = export_onnx(
            build_model("n", 3),
            tmp / "model.onnx",
            imgsz=args.imgsz,
            class_names=["a", "b", "c"],
            dynamic_batch=True,
        )
        db_url = f"sqlite:///{tmp / 'yolops.db'}"
        key, _ = KeyStore(db_url).create("bench", "predict")
        run = run_soak if args.soak else run_levels
        result = run(model, db_url, tmp, key, image, args, console)
    failed = []
    for row in result["rows"]:
        flat, why = memory_verdict(row["memory"], args.max_growth_mb)
        row["memory_flat"] = flat
        console.print(f"{row['server']}, {row['concurrency']} clients: {why}")
        if not flat:
            failed.append(f"memory grew at {row['concurrency']} clients")
        if row["errors"]:
            failed.append(f"{row['errors']} failed requests at {row['concurrency']} clients")
    result = {
        "yolops": __version__,
        "python": platform.python_version(),
        "cpus": cpu_count(),
        "imgsz": args.imgsz,
        "image": "640x480 JPEG",
        "max_growth_mb": args.max_growth_mb,
        **result,
        "passed": not failed,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"Saved {out}")
    if failed:
        console.print(f"[bold red]FAILED:[/] {'; '.join(failed)}")
    return 1 if failed else 0


def _jpeg() -> bytes:
    import cv2

    scene = render_scene(np.random.default_rng(0), 640, 480, SynthConfig()).image
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(scene, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    return buf.tobytes()


if __name__ == "__main__":
    if LOCK.exists():
        raise SystemExit(
            f"{LOCK} exists: another timed benchmark is running; try again when it is gone"
        )
    LOCK.write_text(f"bench_serve.py pid {os.getpid()}\n")
    try:
        code = main()
    finally:
        LOCK.unlink(missing_ok=True)
    raise SystemExit(code)
