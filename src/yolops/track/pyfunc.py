"""A trained detector as an MLflow model with a pyfunc flavor.

The model wraps the ONNX Runtime predictor on the run's ONNX export, so that
``mlflow.pyfunc.load_model(uri).predict(images)`` and ``mlflow models serve``
(with ``--env-manager local`` where yolops is installed) work like yolops itself.

Input: one RGB uint8 image (H, W, 3), a batch of same-size images (B, H, W, 3), or a
list of images of any sizes. Params (optional): ``conf``, ``iou``, ``max_det``.
Output: a DataFrame, one row per box: ``image`` (index in the batch), ``x1 y1 x2 y2``
(xyxy, pixels of that image), ``score``, ``class_id``, ``class_name``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import onnxruntime
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from yolops._version import __version__
from yolops.errors import YolopsError
from yolops.infer.predictor import load_predictor

COLUMNS = ("image", "x1", "y1", "x2", "y2", "score", "class_id", "class_name")
_MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")


def as_image_list(model_input: Any) -> list[np.ndarray]:
    """A pyfunc input -> RGB uint8 images; a clear error for anything else."""
    if isinstance(model_input, dict) and len(model_input) == 1:
        model_input = next(iter(model_input.values()))
    if isinstance(model_input, np.ndarray):
        if model_input.ndim == 3:
            return [np.ascontiguousarray(model_input, dtype=np.uint8)]
        if model_input.ndim == 4:
            return [np.ascontiguousarray(x, dtype=np.uint8) for x in model_input]
        raise YolopsError(
            f"expected an image (H, W, 3) or a batch (B, H, W, 3), got shape {model_input.shape}"
        )
    if isinstance(model_input, (list, tuple)):
        return [np.ascontiguousarray(np.asarray(x), dtype=np.uint8) for x in model_input]
    raise YolopsError(
        f"expected an image array or a list of them, got {type(model_input).__name__}"
    )


def detections_frame(detections: list) -> pd.DataFrame:

    rows = []
    for i, d in enumerate(detections):
        for box, score, cls in zip(d.boxes.tolist(), d.scores.tolist(), d.classes.tolist()):
            name = d.class_names[cls] if 0 <= cls < len(d.class_names) else str(cls)
            rows.append((i, *box, score, cls, name))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype(
        {
            "image": "int64",
            "x1": "float32",
            "y1": "float32",
            "x2": "float32",
            "y2": "float32",
            "score": "float32",
            "class_id": "int64",
            "class_name": "str",
        }
    )


def _python_model_class():
    with warnings.catch_warnings():
        # MLflow advises type hints on predict; the signature is given explicitly instead.
        warnings.simplefilter("ignore", UserWarning)
        return _define(mlflow.pyfunc.PythonModel)


def _define(base):
    class DetectorModel(base):
        """Loads the ONNX graph once; predicts a batch per call."""

        def load_context(self, context) -> None:
            self.predictor = load_predictor(context.artifacts["onnx"], backend="onnx")

        def predict(self, context, model_input, params=None):
            params = params or {}
            images = as_image_list(model_input)
            detections = self.predictor.predict(
                images,
                conf=float(params.get("conf", 0.25)),
                iou=float(params.get("iou", 0.7)),
                max_det=int(params.get("max_det", 300)),
            )
            return detections_frame(detections)

    return DetectorModel


def build_python_model():
    return _python_model_class()()


def model_signature():
    inputs = Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))])
    outputs = Schema(
        [
            ColSpec("long", "image"),
            *(ColSpec("float", c) for c in ("x1", "y1", "x2", "y2", "score")),
            ColSpec("long", "class_id"),
            ColSpec("string", "class_name"),
        ]
    )
    params = ParamSchema(
        [
            ParamSpec("conf", "double", 0.25),
            ParamSpec("iou", "double", 0.7),
            ParamSpec("max_det", "long", 300),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def input_example(imgsz: int) -> np.ndarray:
    """A small deterministic image, (1, imgsz, imgsz, 3) uint8: a grey gradient with
    a filled square, enough to show the input's layout."""
    ramp = np.linspace(40, 200, imgsz, dtype=np.float32)
    image = np.repeat(np.repeat(ramp[None, :, None], imgsz, 0), 3, 2).astype(np.uint8)
    q = imgsz // 4
    image[q : 3 * q, q : 3 * q] = (220, 40, 40)
    return image[None]


@contextmanager
def _no_advice() -> Iterator[None]:
    """Silence MLflow's advice to add type hints to ``predict`` (the signature is
    explicit). MLflow re-enables its own warnings inside, so a filter is not enough:
    nothing is shown until the block ends."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.showwarning = lambda *args, **kwargs: None  # catch_warnings puts the real one back
        yield


def log_detector_model(workspace, run_id: str, onnx_path: str | Path, name: str = "model") -> str:
    """Log the ONNX graph as a pyfunc model of run ``run_id``; returns the model id."""
    predictor = load_predictor(onnx_path, backend="onnx", device="cpu")
    requirements = [
        f"yolops=={__version__}",
        f"mlflow=={mlflow.__version__}",
        f"onnxruntime=={onnxruntime.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]
    with (
        workspace.active(),
        mlflow.start_run(run_id=run_id, log_system_metrics=False),
        _no_advice(),
    ):
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=str(_MODEL_CODE),
            artifacts={"onnx": str(onnx_path)},
            signature=model_signature(),
            input_example=input_example(min(predictor.imgsz, 64)),
            pip_requirements=requirements,
            metadata={
                "class_names": list(predictor.class_names),
                "imgsz": predictor.imgsz,
                "format": "onnx",
            },
        )
    return info.model_id
