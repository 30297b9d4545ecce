"""The labeling studio under load and at scale.

    .venv/bin/python bench/bench_label_studio.py [--users 10] [--rounds 30] [--tasks 10000]

1. Responsiveness: `yolops label serve` in its own process; ``--users`` people (each
   logged in, each on their own task of 100 boxes) open their task and save it, over
   and over, all at once, each pausing ``--think`` seconds on average (uniform 0.5-1.5x)
   before each request as a person would (``--think 0``: back to back, a stress test).
   Reports the server-side time of each request (its ``Server-Timing`` header) and the
   round trip on loopback: p50, p95, max.
2. Scale: a project of ``--tasks`` tasks (small generated images): the time and peak
   memory (ru_maxrss of a child process per step) of creating it, listing an
   annotator's and a reviewer's queue, and exporting it as a dataset version (every
   task approved first, through the database, since only the export is measured).

Prints tables and saves bench/results/label_studio.json. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PASSWORD = "bench-password"


# -- 1. responsiveness --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hundred_boxes(rng) -> list[dict]:
    out = []
    for _ in range(100):
        x, y = rng.uniform(0, 580), rng.uniform(0, 420)
        w, h = rng.uniform(10, 60), rng.uniform(10, 60)
        out.append({"box": [round(x, 2), round(y, 2), round(x + w, 2), round(y + h, 2)], "cls": 0})
    return out


def prepare_responsiveness(ws: Path, users: int) -> None:
    """A project of ``users`` 640x480 tasks, each with 100 imported boxes, and the users."""
    import cv2

    from yolops.data.dataset import Dataset
    from yolops.data.record import ImageRecord
    from yolops.identity import Actor, UserStore
    from yolops.label.importing import add_tasks
    from yolops.label.projects import create_project
    from yolops.label.store import LabelStore
    from yolops.workspace import Workspace

    rng = np.random.default_rng(0)
    folder = ws.parent / "crowded"
    (folder / "images").mkdir(parents=True)
    records = []
    for i in range(users):
        path = folder / "images" / f"crowd{i:02d}.jpg"
        cv2.imwrite(str(path), rng.integers(0, 255, (480, 640, 3), np.uint8))
        boxes = _hundred_boxes(rng)
        records.append(
            ImageRecord(
                path.stem, path, 640, 480, [b["box"] for b in boxes], [b["cls"] for b in boxes]
            )
        )
    source = Dataset(records, ["cell"], name="crowded").save(ws.parent / "crowded-yolo", "yolo")
    workspace = Workspace.resolve(ws)
    store = LabelStore(workspace)
    admin = Actor("bench", "admin")
    project = create_project(store, admin, "crowded", ["cell"])
    add_tasks(store, admin, project, source)
    people = UserStore(workspace.database_url)
    for i in range(users):
        people.add(f"user{i}", "annotator", PASSWORD)


def responsiveness(ws: Path, users: int, rounds: int, think_s: float) -> dict:
    import httpx

    prepare_responsiveness(ws, users)
    port = _free_port()
    cmd = [sys.executable, "-m", "yolops.cli.main", "label", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*cmd, "-w", str(ws)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        timings: dict[str, list[float]] = {"open": [], "save": []}
        round_trips: dict[str, list[float]] = {"open": [], "save": []}
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(users)

        def person(i: int) -> None:
            client = httpx.Client(base_url=base, timeout=30)
            client.post("/api/login", json={"name": f"user{i}", "password": PASSWORD})
            task = client.post("/api/projects/crowded/next", json={"stage": "annotate"}).json()
            barrier.wait()
            if "revision" not in task:
                with lock:
                    errors.append(f"next: {task}")
                return
            revision, r_boxes = task["revision"], task["boxes"]
            think = np.random.default_rng(i)
            for _ in range(rounds):
                for kind in ("open", "save"):
                    if think_s:  # a person looks, draws, then saves
                        time.sleep(think.uniform(0.5, 1.5) * think_s)
                    start = time.perf_counter()
                    if kind == "open":
                        r = client.get(f"/api/tasks/{task['id']}")
                    else:
                        body = {"revision": revision, "boxes": r_boxes}
                        r = client.put(f"/api/tasks/{task['id']}", json=body)
                    took = (time.perf_counter() - start) * 1e3
                    if r.status_code != 200:
                        with lock:
                            errors.append(f"{kind} {r.status_code} {r.text[:100]}")
                        return
                    if kind == "open":
                        r_boxes = r.json()["boxes"]
                        assert len(r_boxes) == 100
                    else:
                        revision = r.json()["revision"]
                    server_ms = float(r.headers["server-timing"].split("dur=")[1])
                    with lock:
                        timings[kind].append(server_ms)
                        round_trips[kind].append(took)

        threads = [threading.Thread(target=person, args=(i,)) for i in range(users)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(30)

    def stats(values: list[float]) -> dict:
        a = np.array(values)
        return {
            "n": len(a),
            "p50_ms": float(np.percentile(a, 50)),
            "p95_ms": float(np.percentile(a, 95)),
            "max_ms": float(a.max()),
        }

    return {
        "users": users,
        "rounds": rounds,
        "think_s": think_s,
        "boxes_per_task": 100,
        "wall_s": wall,
        "errors": errors,
        "server": {k: stats(v) for k, v in timings.items()},
        "round_trip": {k: stats(v) for k, v in round_trips.items()},
    }


# -- 2. scale -----------------------------------------------------------------------------------


def _step(step: str, ws: Path, folder: Path) -> dict:
    """One step in a child process: ``{"seconds", "peak_mb", ...}``."""
    out = subprocess.run(
        [sys.executable, __file__, "--step", step, "--ws", str(ws), "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_step(step: str, ws: Path, folder: Path) -> dict:
    from sqlalchemy import update

    from yolops.identity import Actor
    from yolops.label import tasks as T
    from yolops.label.export import export
    from yolops.label.importing import add_tasks
    from yolops.label.projects import create_project, get_project
    from yolops.label.store import LabelStore
    from yolops.label.tables import tasks
    from yolops.workspace import Workspace

    store = LabelStore(Workspace.resolve(ws))
    admin = Actor("bench", "admin")
    extra: dict = {}
    start = time.perf_counter()
    if step == "create":
        project = create_project(store, admin, "big", ["a", "b", "c"])
        extra["added"] = add_tasks(store, admin, project, folder).added
    elif step == "queue":
        project = get_project(store, "big")
        extra["annotator_queue"] = len(T.queue(store, Actor("ann", "annotator"), project)[1])
        extra["annotator_queue_s"] = time.perf_counter() - start
        with store.begin("bench") as conn:  # everything to review, for the reviewer's queue
            conn.execute(update(tasks).values(stage=1, boxes=[], revision=1))
        t0 = time.perf_counter()
        extra["reviewer_queue"] = len(T.queue(store, Actor("rev", "reviewer"), project)[1])
        extra["reviewer_queue_s"] = time.perf_counter() - t0
        start = time.perf_counter() - extra["annotator_queue_s"] - extra["reviewer_queue_s"]
    elif step == "export":
        project = get_project(store, "big")
        with store.begin("bench") as conn:  # every task approved (only the export is timed)
            conn.execute(
                update(tasks).values(
                    state="done", boxes=[{"box": [1, 1, 20, 20], "cls": 0, "source": "human"}]
                )
            )
        start = time.perf_counter()
        extra["version"] = export(store, admin, project, "big-ds").commit.version.ref
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak, **extra}


def scale(work: Path, n: int) -> dict:
    import cv2

    folder = work / "many"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        cv2.imwrite(str(folder / f"im{i:05d}.png"), rng.integers(0, 255, (48, 64, 3), np.uint8))
    ws = work / "ws-scale"
    return {"tasks": n, **{s: _step(s, ws, folder) for s in ("create", "queue", "export")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean seconds each user spends between requests (0: back to back)",
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--ws", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(args.step, args.ws, args.folder)))
        return 0
    work = Path(tempfile.mkdtemp(prefix="yolops-bench-studio-"))
    try:
        report = {
            "responsiveness": responsiveness(work / "ws-load", args.users, args.rounds, args.think),
            "scale": scale(work, args.tasks),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["machine"] = f"{platform.node()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}"
    r = report["responsiveness"]
    print(
        f"{r['users']} users x {r['rounds']} rounds, 100 boxes per task, think "
        f"{r['think_s']} s, {r['wall_s']:.1f} s"
    )
    print(f"{'request':>8} {'server p50':>11} {'p95':>8} {'max':>8} {'round trip p95':>15}")
    for kind in ("open", "save"):
        s, t = r["server"][kind], r["round_trip"][kind]
        print(
            f"{kind:>8} {s['p50_ms']:>9.1f}ms {s['p95_ms']:>6.1f}ms {s['max_ms']:>6.1f}ms "
            f"{t['p95_ms']:>13.1f}ms"
        )
    if r["errors"]:
        print(f"errors: {r['errors'][:3]}")
    s = report["scale"]
    print(f"\n{s['tasks']} tasks {'step':>10} {'seconds':>8} {'peak MB':>8}")
    for step in ("create", "queue", "export"):
        print(f"{'':>11} {step:>10} {s[step]['seconds']:>8.2f} {s[step]['peak_mb']:>8.0f}")
    out = HERE / "results" / "label_studio.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"saved {out}  ({report['machine']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
