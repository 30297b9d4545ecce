"""A whole prediction job: sources in, detections out, drawn images and JSON saved."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
from rich.console import Console

from yolops.data.draw import draw_detections
from yolops.detections import Detections
from yolops.infer.predictor import Predictor, predict_sized
from yolops.infer.sources import OnError, VideoWriter, count_frames
from yolops.progress import Progress
from yolops.workspace import Workspace


def drawn_path(out: Path, name: str) -> Path:
    """Where the drawn copy of image ``name`` goes: its name and format (PNG stays PNG),
    or JPEG for a format OpenCV cannot write."""
    path = out / Path(name).name
    return path if cv2.haveImageWriter(str(path)) else path.with_suffix(".jpg")


def run_predict(
    predictor: Predictor,
    source: Any,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: Sequence[int] | None = None,
    batch: int = 8,
    save: bool = False,
    out: Path | None = None,
    write_json: bool = False,
    console: Console | None = None,
    reduced_decode: bool = True,
    on_error: OnError | None = None,
) -> dict:
    """Predict over ``source`` with ``predictor`` (see
    :func:`yolops.infer.predictor.load_predictor`; a registry reference resolves to one
    through :mod:`yolops.track.resolve`); with ``save``, drawn images go to ``out``
    (default: the workspace's ``predict`` folder; an image keeps its format, a video's
    frames go back into a drawn video); with ``write_json``, ``out/detections.json``.

    ``reduced_decode``: JPEG files are decoded at a reduced scale when the model's
    input size allows (boxes, widths and heights stay in original pixels); never with
    ``save``, which draws on the full-size images.

    An image or video that cannot be read raises, unless ``on_error`` is given: then
    it is passed to ``on_error(name, error)``, listed in the result's ``failed``
    (``{"name", "error"}``), and the others go on. With ``console``, progress is
    shown there (images done of all, ETA: :class:`yolops.progress.Progress`)."""
    out = Path(out) if out is not None else Workspace.resolve().predict_dir
    if save or write_json:
        out.mkdir(parents=True, exist_ok=True)
    items, records, failed = [], [], []
    writers: dict[str, VideoWriter] = {}

    total = count_frames(source) if console is not None else None
    progress = Progress(console, "Predicting", total=total)

    def unreadable(name: str, error: Exception) -> None:
        failed.append({"name": name, "error": str(error)})
        progress.advance()
        on_error(name, error)

    stream = predict_sized(
        predictor,
        source,
        conf=conf,
        iou=iou,
        max_det=max_det,
        classes=classes,
        batch=batch,
        reduced_decode=reduced_decode and not save,
        on_error=unreadable if on_error is not None else None,
    )
    with progress:
        for name, image, (width, height), dets in stream:
            items.append(_summary_row(name, dets))
            if write_json:
                records.append(
                    {
                        "source": name,
                        "width": width,
                        "height": height,
                        "detections": dets.to_dicts(),
                    }
                )
            if save:
                _save_drawn(out, name, draw_detections(image, dets, predictor.class_names), writers)
            progress.advance()
    for w in writers.values():
        w.close()
    outputs: dict[str, Path] = {}
    if save:
        outputs["drawn images"] = out
    if write_json:
        path = out / "detections.json"
        path.write_text(json.dumps(records, indent=1))
        outputs["detections JSON"] = path
    return {"items": items, "outputs": outputs, "failed": failed}


def _save_drawn(out: Path, name: str, drawn, writers: dict[str, VideoWriter]) -> None:
    """A drawn image under its own name and format; a drawn video frame into its video."""
    video, sep, _ = name.partition("#")
    if sep:
        if video not in writers:
            writers[video] = VideoWriter(
                out / f"{Path(video).stem}.mp4", drawn.shape[1], drawn.shape[0]
            )
        writers[video].write(drawn)
    else:
        cv2.imwrite(str(drawn_path(out, name)), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))


def _summary_row(name: str, dets: Detections) -> dict:
    counts = Counter(
        dets.class_names[c] if c < len(dets.class_names) else str(c) for c in dets.classes.tolist()
    )
    return {
        "name": name,
        "count": len(dets),
        "classes": ", ".join(f"{k} {v}" for k, v in counts.most_common()),
    }
