"""Inference speed: yolops-n with ONNX Runtime on the CPU, batch 1, at 320 and 640.

For each input size: export the raw ONNX graph, time ``session.run`` alone (the model)
and a whole ``predict`` call on a 640x480 image (JPEG bytes decoded, letterboxed, the
model, NMS, boxes mapped back), median and p90 over ``--runs`` calls after
``--warmup``; the same loop times every model. The whole call is timed twice: with
a full decode (``decode_image``) and with the reduced decode ``yolops predict`` and
the server use (``decode_for_model``: 1/2, 1/4 or 1/8 scale where the input size
allows, boxes mapped back to the original pixels). Prints a Rich table and saves
bench/results/infer.json.

    .venv/bin/python bench/bench_infer.py [--weights best.pt] [--image a.jpg] [--runs 200] [--sizes 320 640]

Without ``--weights`` the model is a random-initialised yolops-n with ``--classes``
classes (the speed of a network does not depend on its weights; NMS gets almost no
candidates, so with a trained model the whole call costs slightly more).
"""  # noqa: E501 (the usage line is a command to copy whole)

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
from rich.console import Console
from rich.table import Table

from yolops._version import __version__
from yolops.data.images import decode_for_model, decode_image
from yolops.data.synth import SynthConfig, render_scene
from yolops.device import cpu_count
from yolops.infer.export import export_onnx
from yolops.infer.predictor import OnnxPredictor
from yolops.model.yolo import YOLO, build_model

HERE = Path(__file__).resolve().parent
TARGETS_MS = {320: 5.2, 640: 19.0}  # product targets for yolops-n ONNX on the 2-core machine
PREDICT_OVER_MODEL_TARGET = 1.5


def time_calls(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Milliseconds of ``runs`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 3),
        "p90_ms": round(float(np.percentile(times, 90)), 3),
        "min_ms": round(min(times), 3),
    }


def load_model(weights: Path | None, classes: int) -> tuple[YOLO, tuple[str, ...], str]:
    if weights is None:
        torch.manual_seed(0)
        return build_model("n", classes), tuple(str(i) for i in range(classes)), "random init"
    from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(weights)
    return model_from_checkpoint(state, str(weights)), tuple(state["class_names"]), str(weights)


def sample_jpeg() -> bytes:
    """A 640x480 generated scene, JPEG-encoded (quality 90)."""
    image = render_scene(np.random.default_rng(0), 640, 480, SynthConfig()).image
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:
        raise RuntimeError("OpenCV could not encode the test image as JPEG")
    return data.tobytes()


def bench_size(
    model: YOLO, names: tuple[str, ...], size: int, jpeg: bytes, args, workdir: Path
) -> dict:
    path = export_onnx(model, workdir / f"yolops-n-{size}.onnx", imgsz=size, class_names=names)
    predictor = OnnxPredictor(path, threads=args.threads)
    x = np.random.default_rng(0).random((1, 3, size, size), np.float32)
    feed = {predictor.session.get_inputs()[0].name: x}
    model_times = time_calls(lambda: predictor.session.run(None, feed), args.runs, args.warmup)
    predict_times = time_calls(
        lambda: predictor.predict([decode_image(jpeg)], conf=args.conf), args.runs, args.warmup
    )

    def predict_reduced():
        image, original = decode_for_model(jpeg, size)
        return predictor.predict([image], conf=args.conf, original_sizes=[original])

    reduced_times = time_calls(predict_reduced, args.runs, args.warmup)
    m, p, r = summary(model_times), summary(predict_times), summary(reduced_times)
    return {
        "imgsz": size,
        "model": m,
        "predict_640x480_jpeg": p,
        "predict_over_model": round(p["median_ms"] / m["median_ms"], 3),
        "predict_reduced_decode": r,
        "reduced_decode_shape": list(decode_for_model(jpeg, size)[0].shape),
        "predict_reduced_over_model": round(r["median_ms"] / m["median_ms"], 3),
        "detections": len(predictor.predict([decode_image(jpeg)], conf=args.conf)[0]),
        "detections_reduced_decode": len(predict_reduced()[0]),
        "target_model_ms": TARGETS_MS.get(size),
    }


def print_table(results: list[dict], console: Console) -> None:
    table = Table(
        title="yolops-n, ONNX Runtime CPU, batch 1 (ms); predict: a whole call on the JPEG, "
        "decoded in full or reduced"
    )
    for col in (
        "imgsz",
        "model median",
        "p90",
        "target",
        "predict full median",
        "p90",
        "/ model",
        "predict reduced median",
        "p90",
        "/ model",
    ):
        table.add_column(col, justify="right")
    for r in results:
        target = r["target_model_ms"]
        ok = target is not None and r["model"]["median_ms"] <= target
        ratio_ok = r["predict_reduced_over_model"] <= PREDICT_OVER_MODEL_TARGET
        table.add_row(
            str(r["imgsz"]),
            f"{r['model']['median_ms']:.2f}",
            f"{r['model']['p90_ms']:.2f}",
            "-" if target is None else f"[{'green' if ok else 'red'}]<= {target}[/]",
            f"{r['predict_640x480_jpeg']['median_ms']:.2f}",
            f"{r['predict_640x480_jpeg']['p90_ms']:.2f}",
            f"{r['predict_over_model']:.2f}x",
            f"{r['predict_reduced_decode']['median_ms']:.2f}",
            f"{r['predict_reduced_decode']['p90_ms']:.2f}",
            f"[{'green' if ratio_ok else 'red'}]{r['predict_reduced_over_model']:.2f}x[/]",
        )
    console.print(table)
    console.print(f"target: a whole predict call <= {PREDICT_OVER_MODEL_TARGET}x the model alone")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights", type=Path, default=None, help="a trained yolops checkpoint (.pt)"
    )
    parser.add_argument("--classes", type=int, default=80, help="classes of the random model")
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 640])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime intra-op threads; 0 = all cores"
    )
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument(
        "--image",
        type=Path,
        default=None,
        help="a JPEG to time whole predict calls on (default: a generated 640x480 scene)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "infer.json")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 140))
    model, names, source = load_model(args.weights, args.classes)
    jpeg = args.image.read_bytes() if args.image else sample_jpeg()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="yolops-bench-") as tmp:
        results = [bench_size(model, names, size, jpeg, args, Path(tmp)) for size in args.sizes]
    result = {
        "benchmark": "infer_onnxruntime_cpu",
        "weights": source,
        "image": str(args.image) if args.image else "generated 640x480 scene",
        "classes": len(names),
        "runs": args.runs,
        "warmup": args.warmup,
        "threads": args.threads or cpu_count(),
        "results": results,
        "targets": {"model_ms": TARGETS_MS, "predict_over_model": PREDICT_OVER_MODEL_TARGET},
        "yolops": __version__,
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": cpu_count(),
        # Other processes on the machine skew the numbers; the load says how busy it was.
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
    }
    print_table(results, console)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(
        f"load average before/after: {result['loadavg_before']} / {result['loadavg_after']}"
    )
    console.print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
