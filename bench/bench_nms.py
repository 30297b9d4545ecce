"""NMS on the ONNX path: torch (blockwise IoU and a Python loop over kept boxes,
:func:`yolops.model.postprocess.postprocess`) against OpenCV's ``cv2.dnn.NMSBoxesBatched``
(:func:`yolops.infer.nms.postprocess_raw`), and what torch costs a process that only
predicts with an ONNX graph.

1. Exactness and speed: the raw output of an ONNX graph on ``--images`` generated
   scenes goes through both paths at each ``--conf``; every image must keep the same
   boxes, scores and classes in the same order. Milliseconds per image: median over
   ``--runs`` passes.
2. Start-up and memory: a fresh interpreter loads the graph and predicts one image
   (``predict``: the predictor, as ``yolops predict`` uses it; ``serve``: the server
   started, one request answered, stopped); ``onnx``: as it is now, no torch; ``torch``:
   as before, torch imported (and, for ``predict``, the torch NMS). Wall seconds and peak
   RSS (VmHWM), median of ``--starts`` processes; and whether torch was imported.

    .venv/bin/python bench/bench_nms.py [--weights best.pt|best.onnx] [--images 32] [--runs 5]

Without ``--weights`` the graph is a random-initialised yolops-n (3 classes) exported at
``--imgsz``: at low conf its thousands of overlapping candidates are NMS's worst case.
Results go to bench/results/nms.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# One image through the predictor in a fresh process; prints what it cost.
_CHILD = """
import sys, time, json
start = time.perf_counter()
import numpy as np
from yolops.infer.predictor import OnnxPredictor
mode, graph = sys.argv[1], sys.argv[2]
predictor = OnnxPredictor(graph, threads=1)
if mode == "torch":  # the ONNX path as it was: candidates through the torch NMS
    import torch
    from yolops.model.boxes import cxcywh_to_xyxy
    from yolops.model.postprocess import postprocess
    image = np.full((480, 640, 3), 114, np.uint8)
    from yolops.infer.predictor import prepare_batch
    x, _ = prepare_batch([image], predictor.imgsz)
    (out,) = predictor.session.run(None, {predictor._input_name: x})
    p = torch.from_numpy(np.ascontiguousarray(out[0].T))[None]
    postprocess(cxcywh_to_xyxy(p[..., :4]), p[..., 4:], conf=0.25)
else:
    predictor.predict([np.full((480, 640, 3), 114, np.uint8)])
# VmHWM: this process's own peak (ru_maxrss would carry the forking parent's over exec)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "max_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
    "torch_imported": "torch" in sys.modules,
}))
"""


# The server in a fresh process: start (the graph loaded), answer one request, stop.
# ``torch``: the same with torch imported first, as the server did before.
_SERVER_CHILD = """
import sys, time, json, tempfile
start = time.perf_counter()
mode, graph = sys.argv[1], sys.argv[2]
if mode == "torch":
    import torch
import cv2, numpy as np
from fastapi.testclient import TestClient
from yolops.serve.app import build_app
from yolops.serve.config import ServeConfig
blob = cv2.imencode(".png", np.full((480, 640, 3), 114, np.uint8))[1].tobytes()
config = ServeConfig(model=graph, auth=False, workspace=tempfile.mkdtemp(), reload_interval=0)
with TestClient(build_app(config)) as client:
    answer = client.post("/v1/predict", files=[("images", ("a.png", blob, "image/png"))])
    assert answer.status_code == 200, answer.text
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "max_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
    "torch_imported": "torch" in sys.modules,
}))
"""


def graph_for(weights: str | None, imgsz: int, tmp: Path) -> Path:
    import torch

    from yolops.infer.export import cached_onnx, export_onnx
    from yolops.model.yolo import build_model

    if weights and weights.endswith(".onnx"):
        return Path(weights)
    if weights:
        return cached_onnx(Path(weights))
    torch.manual_seed(0)
    model = build_model("n", num_classes=3).eval()
    path = tmp / "random.onnx"
    export_onnx(model, path, imgsz=imgsz, class_names=("a", "b", "c"))
    return path


def raw_outputs(graph: Path, n: int, seed: int = 0) -> list[np.ndarray]:
    from yolops.data.synth import SynthConfig, render_scene
    from yolops.infer.predictor import OnnxPredictor, prepare_batch

    predictor = OnnxPredictor(graph)
    rng = np.random.default_rng(seed)
    config = SynthConfig(max_objects=12)
    outputs = []
    for _ in range(n):
        image = render_scene(rng, 640, 480, config).image
        x, _ = prepare_batch([image], predictor.imgsz)
        outputs.append(predictor.session.run(None, {predictor._input_name: x})[0][0])
    return outputs


def torch_path(pred: np.ndarray, conf: float, iou: float, max_det: int):
    """The ONNX path before: NumPy pre-filter, then the torch post-processing."""
    import torch

    from yolops.model.boxes import cxcywh_to_xyxy
    from yolops.model.postprocess import postprocess

    candidates = np.flatnonzero(pred[4:].max(0) >= conf)
    p = torch.from_numpy(np.ascontiguousarray(pred[:, candidates].T, dtype=np.float32))[None]
    ((b, s, c),) = postprocess(
        cxcywh_to_xyxy(p[..., :4]), p[..., 4:], conf=conf, iou=iou, max_det=max_det
    )
    return b.numpy(), s.numpy(), c.numpy()


def opencv_path(pred: np.ndarray, conf: float, iou: float, max_det: int):
    from yolops.infer.nms import postprocess_raw

    return postprocess_raw(pred, conf=conf, iou=iou, max_det=max_det)


def compare(outputs: list[np.ndarray], conf: float, runs: int) -> dict:
    import torch

    torch.set_num_threads(1)  # as the ONNX path ran it (torch_single_threaded)
    same = 0
    candidates = kept = 0
    for pred in outputs:
        a, b = torch_path(pred, conf, 0.7, 300), opencv_path(pred, conf, 0.7, 300)
        candidates += int((pred[4:].max(0) >= conf).sum())
        kept += len(a[0])
        same += all(np.array_equal(x, y) for x, y in zip(a, b))
    times = {}
    for name, fn in (("torch", torch_path), ("opencv", opencv_path)):
        per_pass = []
        for _ in range(runs):
            start = time.perf_counter()
            for pred in outputs:
                fn(pred, conf, 0.7, 300)
            per_pass.append((time.perf_counter() - start) * 1000 / len(outputs))
        times[name] = statistics.median(per_pass)
    return {
        "conf": conf,
        "images": len(outputs),
        "identical_images": same,
        "candidates_per_image": candidates / len(outputs),
        "kept_per_image": kept / len(outputs),
        "torch_ms_per_image": round(times["torch"], 3),
        "opencv_ms_per_image": round(times["opencv"], 3),
    }


def start_cost(graph: Path, what: str, mode: str, starts: int) -> dict:
    runs = []
    child = _SERVER_CHILD if what == "serve" else _CHILD
    for _ in range(starts):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", child, mode, str(graph)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["process_seconds"] = time.perf_counter() - t0
        runs.append(result)
    return {
        "what": what,
        "mode": mode,
        "process_seconds": round(statistics.median(r["process_seconds"] for r in runs), 3),
        "in_process_seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "max_rss_mb": round(statistics.median(r["max_rss_mb"] for r in runs), 1),
        "torch_imported": runs[0]["torch_imported"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help=".pt or .onnx; default: random yolops-n")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--conf", type=float, nargs="+", default=[0.001, 0.25])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results" / "nms.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph = graph_for(args.weights, args.imgsz, Path(tmp))
        outputs = raw_outputs(graph, args.images)
        rows = [compare(outputs, conf, args.runs) for conf in args.conf]
        starts = [
            start_cost(graph, what, mode, args.starts)
            for what in ("predict", "serve")
            for mode in ("onnx", "torch")
        ]
    result = {
        "weights": args.weights or "random yolops-n",
        "imgsz": args.imgsz,
        "nms": rows,
        "start": starts,
        "machine": {
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
            "python": platform.python_version(),
        },
        "own_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    for row in rows:
        print(
            f"conf {row['conf']:g}: {row['identical_images']}/{row['images']} images identical, "
            f"{row['candidates_per_image']:.0f} candidates -> {row['kept_per_image']:.1f} kept; "
            f"torch {row['torch_ms_per_image']} ms, opencv {row['opencv_ms_per_image']} ms"
        )
    for s in starts:
        print(
            f"{s['what']} ({s['mode']}): {s['process_seconds']} s process, "
            f"{s['in_process_seconds']} s import+load+predict, {s['max_rss_mb']} MB peak RSS, "
            f"torch imported: {s['torch_imported']}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(r["identical_images"] == r["images"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
