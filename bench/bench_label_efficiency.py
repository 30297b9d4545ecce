"""How much AI pre-labeling saves a labeling team, measured on BCCD.

    .venv/bin/python bench/bench_label_efficiency.py --model best.pt [--bccd PATH]
    .venv/bin/python bench/bench_label_efficiency.py --train-time 450   # trains one first

A yolops-n trained on BCCD's published train split pre-labels the val + test images
through the studio (a project, tasks from a folder, `prelabel`). Against the ground
truth it reports:

- the share of ground-truth boxes matched by a proposal accepted as is (IoU >= 0.5,
  right class; one-to-one), at the project's default proposal confidence and others;
- the edit actions per image an annotator needs with proposals against from scratch
  (one draw per box). With proposals the annotator takes the cheaper of two ways per
  image: accept all, then delete the wrong ones, fix (move, resize or re-class) the
  imprecise ones and draw the missed ones; or accept the right ones one by one, accept
  and fix the imprecise ones (two actions each) and draw the missed ones. "Imprecise":
  the proposal overlaps an object (IoU >= 0.3) but misses the as-is bar (IoU < 0.5 or
  the wrong class).

Prints a table and saves bench/results/label_efficiency.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BCCD = ROOT.parent / "shared" / "datasets" / "bccd"


def train_model(bccd: Path, seconds: float, out: Path) -> Path:
    cmd = [
        sys.executable, "-m", "yolops.cli.main", "train", "--data", str(bccd), "--scale", "n",
        "--time", str(seconds), "--project", str(out), "--name", "bccd-n", "--no-track",
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out / "bccd-n" / "weights" / "best.pt"


def count_actions(gt_boxes, gt_classes, proposals) -> dict:
    """Matches and edit actions for one image (see the module docstring)."""
    from yolops.data.boxes import pairwise_iou
    from yolops.label.consensus import match

    p_boxes = np.array([p["box"] for p in proposals], np.float64).reshape(-1, 4)
    p_classes = np.array([p["cls"] for p in proposals], np.int64)
    pairs = match(gt_boxes, p_boxes, 0.5)
    as_is = [(g, p) for g, p in pairs if gt_classes[g] == p_classes[p]]
    used_gt = {g for g, _ in as_is}
    used_p = {p for _, p in as_is}
    # Imprecise: a left-over proposal overlapping a left-over object.
    rest_gt = [g for g in range(len(gt_boxes)) if g not in used_gt]
    rest_p = [p for p in range(len(p_boxes)) if p not in used_p]
    fixable = []
    if rest_gt and rest_p:
        overlap = pairwise_iou(gt_boxes[rest_gt], p_boxes[rest_p])
        fixable = [(rest_gt[i], rest_p[j]) for i, j in match_all(overlap, 0.3)]
    fixed_gt = {g for g, _ in fixable}
    fixed_p = {p for _, p in fixable}
    drawn = len(gt_boxes) - len(used_gt) - len(fixed_gt)
    wrong = len(p_boxes) - len(used_p) - len(fixed_p)
    accept_all = (1 if len(p_boxes) else 0) + len(fixable) + wrong + drawn
    one_by_one = len(as_is) + 2 * len(fixable) + drawn
    return {
        "objects": len(gt_boxes),
        "proposals": len(p_boxes),
        "as_is": len(as_is),
        "fixable": len(fixable),
        "missed": drawn,
        "wrong": wrong,
        "actions": min(accept_all, one_by_one),
        "scratch": len(gt_boxes),
    }


def match_all(overlap: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-overlap)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if overlap[i, j] >= threshold]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bccd", type=Path, default=BCCD)
    parser.add_argument("--model", type=Path, help="a yolops-n trained on BCCD's train split")
    parser.add_argument("--train-time", type=float, default=450, help="seconds, without --model")
    parser.add_argument("--confs", default="0.25,0.35,0.5", help="proposal confidences")
    args = parser.parse_args()
    if not (args.bccd / "Annotations").is_dir():
        print(f"BCCD not found at {args.bccd}; skipping")
        return 0

    from yolops.data.dataset import load_dataset
    from yolops.label.importing import add_tasks
    from yolops.label.prelabel import prelabel
    from yolops.label.projects import create_project
    from yolops.label.store import LabelStore
    from yolops.label.tables import tasks
    from yolops.workspace import Workspace

    work = Path(tempfile.mkdtemp(prefix="yolops-bench-label-"))
    try:
        model = args.model or train_model(args.bccd, args.train_time, work / "train")
        bccd = load_dataset(args.bccd)
        held_out = [r for r in bccd if bccd.split_of(r.id) in ("val", "test")]
        folder = work / "images"
        folder.mkdir()
        for r in held_out:
            shutil.copy(r.path, folder / Path(r.path).name)
        store = LabelStore(Workspace.resolve(work / "ws"))
        from yolops.identity import Actor

        admin = Actor("bench", "admin")
        project = create_project(store, admin, "bccd", bccd.class_names, model=str(model))
        add_tasks(store, admin, project, folder)
        start = time.perf_counter()
        result = prelabel(store, admin, project)
        seconds = time.perf_counter() - start
        from sqlalchemy import select

        with store.connect("bench") as conn:
            rows = {r.image_id: r for r in conn.execute(select(tasks))}
        by_name = {Path(r.path).name: r for r in held_out}
        report = {"model": str(model), "images": len(held_out), "prelabel_s": seconds}
        for conf in (float(c) for c in args.confs.split(",")):
            totals: dict[str, int] = {}
            for name, record in by_name.items():
                shown = [p for p in rows[name].proposals if p["score"] >= conf]
                counts = count_actions(record.boxes.astype(np.float64), record.classes, shown)
                for k, v in counts.items():
                    totals[k] = totals.get(k, 0) + v
            n = len(by_name)
            report[f"conf_{conf}"] = {
                **totals,
                "share_as_is": totals["as_is"] / totals["objects"],
                "actions_per_image": totals["actions"] / n,
                "scratch_per_image": totals["scratch"] / n,
                "fewer_actions": totals["scratch"] / max(totals["actions"], 1),
            }
        report["prelabel"] = result.describe()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["machine"] = f"{platform.node()} {platform.processor() or platform.machine()}"
    print(f"pre-labeled {report['images']} val+test images in {report['prelabel_s']:.1f} s")
    print(f"{'conf':>6} {'as-is share':>12} {'actions/img':>12} {'scratch/img':>12} {'x fewer':>8}")
    for key, r in report.items():
        if key.startswith("conf_"):
            print(
                f"{key[5:]:>6} {r['share_as_is']:>12.1%} {r['actions_per_image']:>12.2f} "
                f"{r['scratch_per_image']:>12.2f} {r['fewer_actions']:>8.2f}"
            )
    out = HERE / "results" / "label_efficiency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
