"""`yolops demo`: the whole loop on generated data, step by step.

Each step is a plain call into the public API; the demo only sequences them and
says what it did and where the outputs are.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from yolops.data.dataset import load_dataset
from yolops.data.stats import dataset_stats, render_stats
from yolops.data.synth import SynthConfig, generate_to
from yolops.detector import Detector
from yolops.infer.predict_run import run_predict
from yolops.infer.predictor import load_predictor
from yolops.issues import print_issues
from yolops.pipeline.demo_steps import (
    DARKEN,
    register_and_promote,
    serve_and_ask,
    serve_drift_and_monitor,
)
from yolops.quality import plant_and_validate, write_html
from yolops.workspace import Workspace

console = Console()


@contextmanager
def _step(number: int, title: str) -> Iterator[None]:
    console.print(Rule(f"[bold]{number}. {title}", align="left"))
    start = time.perf_counter()
    yield
    console.print(f"[dim]   done in {time.perf_counter() - start:.1f} s[/]")


# Training length of the demo in epochs (not a time budget, so that a busy machine
# makes it slower, not worse): about two minutes on 2 idle CPU cores; with --fast
# (the tests) two epochs, which prove the steps run rather than learn.
TRAIN_EPOCHS = {False: 30, True: 2}


def run_demo(workspace: Path, fast: bool = False) -> dict:
    """Run the demo under ``workspace/demo``; returns the paths it wrote."""
    root = Path(workspace) / "demo"
    root.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}
    config = SynthConfig(num_images=48 if fast else 240, seed=0)

    with _step(1, "Generate a shapes data set (YOLO format)"):
        shutil.rmtree(
            root / "shapes", ignore_errors=True
        )  # the demo's own output from a previous run
        data_yaml = generate_to(root / "shapes", "yolo", config)
        outputs["dataset"] = data_yaml
        console.print(
            f"   {config.num_images} images of circles, squares and triangles "
            f"-> [bold]{data_yaml}[/]"
        )

    with _step(2, "Validate it, with a few defects planted on purpose (the quality gate)"):
        outputs["quality"] = quality_step(data_yaml, root / "quality")

    with _step(3, "Load it (every problem reported, nothing dropped silently)"):
        ds = load_dataset(data_yaml)
        console.print(f"   {ds!r}")
        if ds.issues:
            print_issues(ds.issues, console)
        else:
            console.print("   no load problems")

    with _step(4, "Describe it"):
        render_stats(dataset_stats(ds), console)

    with _step(5, f"Train yolops-n from scratch ({TRAIN_EPOCHS[fast]} epochs), tracked in MLflow"):
        detector = train_step(ds, root, TRAIN_EPOCHS[fast], Path(workspace))
        outputs["run"] = detector.train_result.run_dir
        outputs["weights"] = detector.train_result.best

    with _step(6, "Evaluate it on the held-out test split"):
        evaluate_step(detector, ds)

    with _step(7, "Predict on the test images and draw the boxes"):
        outputs["predictions"] = predict_step(detector, ds, root / "predictions")

    with _step(8, "Register the model, promote it to production, predict with NAME@production"):
        reference = registry_step(Path(workspace), detector, ds)

    with _step(9, "Serve it: REST API with an API key, one request, then stop"):
        serve_step(detector.train_result.best, ds.split("test")[0].path, root)

    with _step(
        10,
        "Monitor it: ordinary traffic, then a failing camera; "
        "drift report, images back to labeling",
    ):
        outputs["monitoring"] = monitor_step(Path(workspace), reference, ds, root / "monitoring")

    console.print(Rule("[bold green]Demo finished", align="left"))
    for name, path in outputs.items():
        console.print(f"   {name:<10} {path}")
    return outputs


def train_step(ds, root: Path, epochs: int, workspace: Path):
    """A yolops-n trained on ``ds`` for ``epochs``, its run folder under ``root/runs``,
    logged as an MLflow run in ``workspace``."""
    shutil.rmtree(root / "runs" / "train", ignore_errors=True)
    return Detector.train(
        ds,
        scale="n",
        imgsz=256,
        epochs=epochs,
        batch=16,
        project=str(root / "runs"),
        name="train",
        track=True,
        workspace=Workspace.resolve(workspace),
        experiment="demo",
        console=console,
    )


def registry_step(workspace: Path, detector, ds) -> str:
    """Register and promote the demo's training, then predict through ``NAME@production``
    (the promotion gate may keep a better earlier version there; the demo says so)."""
    test = ds.split("test")
    return register_and_promote(
        Workspace.resolve(workspace),
        detector.train_result,
        source=[str(r.path) for r in test],
        console=console,
    )["reference"]


def evaluate_step(detector, ds) -> None:
    result = detector.val(ds, split="test")
    console.print(result.table(title="yolops-n on the test split"))


def predict_step(detector, ds, out: Path) -> Path:
    """Drawn test images in ``out``; returns ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    test = ds.split("test")
    predictor = load_predictor(detector.train_result.best)  # ONNX Runtime on the CPU
    summary = run_predict(
        predictor, [str(r.path) for r in test], save=True, out=out, write_json=True
    )
    found = sum(item["count"] for item in summary["items"])
    console.print(f"   {found} objects found in {len(test)} test images -> [bold]{out}[/]")
    return out


def quality_step(data_yaml: Path, out: Path) -> Path:
    """Plant known defects in a copy of the data, validate the copy, show that the
    report finds each one; returns the HTML report."""
    shutil.rmtree(out, ignore_errors=True)
    result = plant_and_validate(load_dataset(data_yaml), out / "planted")
    counts = result.report.counts_by_severity()
    console.print(
        f"   {counts['error']} error(s), {counts['warning']} warning(s) "
        f"in {len(result.report.dataset)} images"
    )
    for kind, (found, planted) in result.recall.items():
        console.print(f"   planted {kind:<24} found {found}/{planted}")
    verdict = "FAILED: a pipeline would stop here" if result.report.exit_code("error") else "PASSED"
    console.print(f"   gate (fail on errors): {verdict}; the demo goes on with the clean data")
    return write_html(result.report, out / "report.html", fail_on="error")


def serve_step(model: Path, image: Path, root: Path) -> None:
    """Start the server on a free loopback port, ask it about ``image``, print the answer."""
    answer = serve_and_ask(model, image, workspace=root / "serve")
    [result] = answer["results"]
    found = (
        ", ".join(f"{d['class_name']} {d['score']:.2f}" for d in result["detections"][:6])
        or "nothing"
    )
    console.print(
        f"   POST {answer['url']}/v1/predict "
        f"({result['name']}, {result['width']}x{result['height']}) "
        f"-> {len(result['detections'])} boxes: {found}"
    )
    console.print(
        f"   model {answer['model']['name']} v{answer['model']['version']}, "
        f"{answer['latency_ms']:.1f} ms; the server has stopped"
    )


def monitor_step(workspace: Path, reference: str, ds, out: Path) -> Path:
    """Serve ``reference``, send it the validation and test images as they are and
    then darkened, monitor both windows; returns the HTML report of the dark one."""
    images = [r.path for split in ("val", "test") if split in ds.splits for r in ds.split(split)]
    result = serve_drift_and_monitor(workspace, reference, images, out)
    quiet, dark = result["quiet"], result["dark"]
    console.print(f"   {len(quiet.rows)} ordinary images: [green]{quiet.status}[/]")
    console.print(
        f"   {len(dark.rows)} images at {DARKEN:.0%} brightness: [bold red]{dark.status}[/] "
        f"({'; '.join(f.feature for f in dark.drifted) or 'nothing drifted'}); exit code "
        f"{dark.exit_code()} for a pipeline"
    )
    console.print(f"   report -> [bold]{result['html']}[/]")
    console.print(f"   back to labeling: {result['to_label'].describe()}")
    return result["html"]
