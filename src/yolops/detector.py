"""Detector: the one Python object a user needs to train, evaluate, predict and export.

det = Detector.train("data.yaml", scale="n", imgsz=320, time=450)
det.val("data.yaml", split="test").map50_95
det.predict("images/")            # list of Detections in original pixels
det.export("model.onnx", end2end=True)
Detector("shapes@production")     # any model reference: a file, NAME@ALIAS, NAME/VERSION
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from yolops.data.dataset import Dataset, load_dataset
from yolops.detections import Detections
from yolops.errors import ModelError, YolopsError
from yolops.infer.export import export_onnx
from yolops.infer.predictor import load_predictor, predict_records, predict_source
from yolops.model.evaluate import EvalResult, evaluate
from yolops.track.resolve import resolve_model
from yolops.track.training import train_tracked
from yolops.train.config import TrainConfig
from yolops.train.trainer import TrainCallback, TrainResult, train
from yolops.train.trainer import resume as resume_training
from yolops.workspace import DEFAULT_EXPERIMENT, Workspace


class Detector:
    """A loaded model (PyTorch checkpoint or ONNX graph) behind one interface."""

    def __init__(
        self,
        model: str | Path,
        backend: str = "auto",
        device: str = "auto",
        workspace: Workspace | None = None,
    ):
        """``model``: a file (.pt, .onnx) or a reference the registry resolves
        (``NAME@ALIAS``, ``NAME/VERSION``, ``runs:/RUN_ID``; see
        :mod:`yolops.track.resolve`), looked up in ``workspace`` (a
        :class:`yolops.workspace.Workspace`; default: ``$YOLOPS_HOME`` or ./yolops-workspace)."""
        self.reference = str(model)
        self.source = resolve_model(model, workspace, backend)
        self.backend = backend
        self.predictor = load_predictor(self.source, backend=backend, device=device)
        self.train_result: TrainResult | None = None  # set by Detector.train
        self.run_id: str | None = None  # the MLflow run of a tracked Detector.train

    def __repr__(self) -> str:
        return (
            f"Detector({str(self.source)!r}, backend={type(self.predictor).__name__}, "
            f"classes={list(self.class_names)}, imgsz={self.imgsz})"
        )

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.predictor.class_names)

    @property
    def imgsz(self) -> int:
        return int(self.predictor.imgsz)

    @classmethod
    def train(
        cls,
        data: str | Path | Dataset | None = None,
        config: TrainConfig | None = None,
        resume: str | Path | None = None,
        callbacks: Iterable[TrainCallback] = (),
        console: Console | None = None,
        workspace: Workspace | None = None,
        track: bool = False,
        experiment: str = DEFAULT_EXPERIMENT,
        **options: Any,
    ) -> Detector:
        """Train a new model and load its best weights. The options are those of
        :class:`yolops.train.config.TrainConfig`, given as ``config`` and/or as keywords
        (which win); a misspelt one is a ConfigError naming the valid ones. The run
        folder goes under ``project``, else under ``workspace``'s runs folder.
        ``track`` records the training as an MLflow run of ``experiment`` in
        ``workspace`` (:func:`yolops.track.training.train_tracked`; its id is ``run_id``).

        ``resume``: a ``last.pt`` to continue instead; the keywords (and what ``config``
        sets) are then changes to its saved options, which only some may make (epochs,
        time, patience, ...: see :func:`yolops.train.trainer.resume`)."""
        dataset = data if isinstance(data, Dataset) else None
        if dataset is None and data is not None:
            options.setdefault("data", str(data))
        changes, cfg = None, None
        if resume is not None:
            changes = {**(config.non_defaults() if config is not None else {}), **options}
        else:
            cfg = (config if config is not None else TrainConfig()).replace(**options)
        run_id = None
        if track:
            tracked = train_tracked(
                cfg,
                workspace or Workspace.resolve(),
                dataset=dataset,
                resume=resume,
                changes=changes,
                experiment=experiment,
                callbacks=callbacks,
                console=console,
            )
            result, run_id = tracked.result, tracked.run_id
        elif resume is not None:
            result = resume_training(
                resume, changes, dataset=dataset, callbacks=callbacks, console=console
            )
        else:
            result = train(
                cfg, dataset=dataset, callbacks=callbacks, console=console, workspace=workspace
            )
        det = cls(result.best, backend="torch")
        det.train_result, det.run_id = result, run_id
        return det

    def predict(
        self,
        source: Any,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        batch: int = 8,
        reduced_decode: bool = True,
    ) -> list[Detections]:
        """Detections for every image in ``source`` (a path, folder, glob, video, array,
        or a list of them), in each image's original pixels.

        ``reduced_decode``: JPEG files much larger than the model's input are decoded
        at 1/2, 1/4 or 1/8 scale (faster; boxes are still in original pixels)."""
        return [
            d
            for _, _, d in predict_source(
                self.predictor,
                source,
                conf=conf,
                iou=iou,
                max_det=max_det,
                classes=classes,
                batch=batch,
                reduced_decode=reduced_decode,
            )
        ]

    def predict_dataset(
        self,
        dataset: Dataset,
        conf: float = 0.001,
        iou: float = 0.7,
        max_det: int = 300,
        batch: int = 8,
    ) -> dict[str, Detections]:
        """Detections for every record of ``dataset``, keyed by image id."""
        return predict_records(self.predictor, dataset, conf, iou, max_det, batch)

    def val(
        self, data: str | Path | Dataset, split: str | None = "val", batch: int = 8
    ) -> EvalResult:
        """COCO metrics on one split of ``data`` (the whole dataset when split is None)."""
        ds = data if isinstance(data, Dataset) else load_dataset(data)
        if split is not None:
            ds = ds.split(split)
        self._check_classes(ds)
        return evaluate(ds, self.predict_dataset(ds, batch=batch))

    def export(
        self,
        out: str | Path | None = None,
        end2end: bool = False,
        dynamic: bool = False,
        opset: int = 17,
        **kwargs: Any,
    ) -> Path:
        """Export the PyTorch checkpoint to ONNX (``end2end`` puts NMS inside the graph)."""
        if self.source.suffix != ".pt":
            raise ModelError(f"{self.source}: only a PyTorch checkpoint (.pt) can be exported")
        out = Path(out) if out else self.source.with_suffix(".end2end.onnx" if end2end else ".onnx")
        return export_onnx(
            self.source, out, opset=opset, dynamic_batch=dynamic, end2end=end2end, **kwargs
        )

    def _check_classes(self, ds: Dataset) -> None:
        if tuple(ds.class_names) != self.class_names:
            raise YolopsError(
                f"the model knows classes {list(self.class_names)} but dataset {ds.name!r} has "
                f"{list(ds.class_names)}; evaluate on data with the same class list"
            )
