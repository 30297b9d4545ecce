"""The loop back to labeling: flagged live images written as a dataset to label.

:func:`write_label_batch` takes the images a monitoring pass flagged (drifted inputs,
uncertain predictions) that the server saved (``--log-sample-rate``), pre-labels
them with the model's own detections, and writes them as a YOLO dataset (images
in no split, to be labeled, reviewed and merged into the training data) with
``selection.csv`` saying when each image was served and why it was picked.
Flagged requests whose image was not saved are counted, never silently skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from yolops.data.dataset import Dataset, ImageRecord
from yolops.data.images import read_image
from yolops.errors import ImageReadError, YolopsError
from yolops.infer.predictor import load_predictor
from yolops.monitor.drift import MonitorReport

SELECTION = "selection.csv"


@dataclass(frozen=True)
class LabelBatch:
    path: Path | None  # the dataset's folder; None when nothing could be written
    images: int  # images written
    flagged: int  # images the monitoring pass flagged
    not_saved: int  # flagged, but the server saved no copy (not sampled)
    unreadable: list[str]  # saved copies that could not be read: "path: why"

    def describe(self) -> str:
        parts = [
            f"{self.images} of {self.flagged} flagged images written"
            + (f" to {self.path}" if self.path else "")
        ]
        if self.not_saved:
            parts.append(
                f"{self.not_saved} were not saved by the server "
                "(raise --log-sample-rate to keep more)"
            )
        if self.unreadable:
            parts.append(
                f"{len(self.unreadable)} saved copies could not be read "
                f"(first: {self.unreadable[0]})"
            )
        return "; ".join(parts)


def write_label_batch(
    report: MonitorReport, out: str | Path, model, limit: int | None = None
) -> LabelBatch:
    """Write the flagged images of ``report`` that were saved under ``out`` (a new or
    empty folder), pre-labeled by ``model`` (a file or predictor) at the report's
    confidence threshold; at most ``limit`` images, most reasons first."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise YolopsError(f"{out}: folder for labeling is not empty; give a new one")
    flagged = sorted(report.flagged, key=lambda f: -len(f.reasons))
    saved = [f for f in flagged if f.row.get("sample_path")]
    if limit is not None:
        saved = saved[:limit]
    predictor = model if hasattr(model, "predict") else load_predictor(model)
    records, picked, unreadable = [], [], []
    for f in saved:
        path = Path(f.row["sample_path"])
        try:
            image = read_image(path)
        except ImageReadError as e:
            unreadable.append(f"{path}: {e}")
            continue
        (found,) = predictor.predict([image], conf=report.config.conf)
        records.append(
            ImageRecord(path.stem, path, image.shape[1], image.shape[0], found.boxes, found.classes)
        )
        picked.append(f)
    result = dict(
        flagged=len(flagged),
        not_saved=sum(1 for f in flagged if not f.row.get("sample_path")),
        unreadable=unreadable,
    )
    if not records:
        return LabelBatch(None, 0, **result)
    name = f"{report.model_name}-v{report.model_version}-{report.end.strftime('%Y%m%dT%H%M%SZ')}"
    dataset = Dataset(records, predictor.class_names, splits={}, name=name)
    dataset.save(out, format="yolo")
    _write_selection(out / SELECTION, picked)
    return LabelBatch(out, len(records), **result)


def _write_selection(path: Path, picked) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["image", "time", "request_id", "model_version", "boxes", "lowest_score", "reasons"]
        )
        for item in picked:
            r = item.row
            w.writerow(
                [
                    Path(r["sample_path"]).name,
                    r["time"].isoformat(),
                    r["request_id"],
                    r["model_version"],
                    len(r["scores"]),
                    f"{min(r['scores']):.3f}" if r["scores"] else "",
                    " | ".join(item.reasons),
                ]
            )
