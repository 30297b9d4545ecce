"""Run a model over a dataset split and score it: the evaluation half of the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from yolops.data.dataset import Dataset
from yolops.data.letterbox import boxes_from_letterbox
from yolops.detections import Detections
from yolops.model.checkpoint import load_checkpoint, model_from_checkpoint
from yolops.model.evaluate import EvalResult, evaluate
from yolops.model.postprocess import postprocess
from yolops.model.yolo import YOLO, decode
from yolops.train import plots
from yolops.train.config import TrainConfig
from yolops.train.loader import build_loader


@torch.no_grad()
def predict_dataset(
    model: YOLO,
    dataset: Dataset,
    imgsz: int,
    batch_size: int = 16,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    device: torch.device | str = "cpu",
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Detections]:
    """Detections for every image of ``dataset``, in original image pixels.

    The low default ``conf`` is what mAP needs (the whole PR curve)."""
    was_training = model.training
    model.eval()
    loader = build_loader(dataset, imgsz, batch_size, augment=None, shuffle=False)
    out: dict[str, Detections] = {}
    for batch in loader:
        boxes, scores = decode(model(batch.images.to(device)))
        per_image = postprocess(boxes, scores, conf=conf, iou=iou, max_det=max_det)
        for image_id, info, (b, s, c) in zip(batch.image_ids, batch.letterbox, per_image):
            b = boxes_from_letterbox(b.float().cpu().numpy(), info)
            out[image_id] = Detections(
                b, s.float().cpu().numpy(), c.cpu().numpy(), dataset.class_names
            )
        if on_batch:
            on_batch(len(batch.image_ids))
    model.train(was_training)
    return out


def evaluate_model(
    model: YOLO,
    dataset: Dataset,
    imgsz: int,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
) -> tuple[EvalResult, dict[str, Detections]]:
    """COCO metrics of ``model`` on ``dataset`` (and the predictions, for plots)."""
    predictions = predict_dataset(model, dataset, imgsz, batch_size, device=device)
    return evaluate(dataset, predictions), predictions


def score_run(
    run_dir: Path,
    ds: Dataset,
    config: TrainConfig,
    device: torch.device,
    history: list[dict[str, float]],
) -> dict[str, float]:
    """Score a run's best.pt on val (and test, when there is one), draw the plots and
    write ``metrics_final.yaml``; returns the metrics (``val/...``, ``test/...``)."""
    best = load_checkpoint(run_dir / "weights" / "best.pt")
    model = model_from_checkpoint(best).to(device)
    metrics: dict[str, float] = {}
    for split in dict.fromkeys((config.val_split, "test")):
        if split not in ds.splits or not ds.splits[split]:
            continue
        part = ds.split(split)
        result, predictions = evaluate_model(model, part, config.imgsz, config.batch, device)
        metrics.update(result.to_metrics(f"{split}/"))
        plots.plot_pr_curves(result, run_dir / f"pr_curves_{split}.png")
        plots.plot_confusion_matrix(
            result, list(ds.class_names), run_dir / f"confusion_matrix_{split}.png"
        )
        plots.plot_predictions_grid(part, predictions, run_dir / f"predictions_{split}.png")
    if history:
        plots.plot_training_curves(history, run_dir / "training_curves.png")
    (run_dir / "metrics_final.yaml").write_text(
        yaml.safe_dump({k: float(v) for k, v in metrics.items()})
    )
    return metrics
