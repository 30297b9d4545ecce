"""A trained detector as an MLflow model with a pyfunc flavor.

The model wraps the ONNX Runtime predictor on the run's ONNX export, so that
``mlflow.pyfunc.load_model(uri).predict(images)`` and ``mlflow models serve``
(with ``--env-manager local`` where yolops is installed) work like yolops itself.

Input: one RGB uint8 image (H, W, 3), a batch of same-size images (B, H, W, 3), encoded
image bytes (JPEG, PNG, ...), a base64 string of them, or a list of any of these (images
of any sizes); a one-column DataFrame or Series of bytes or base64 strings (Spark UDF,
``mlflow models serve`` with ``dataframe_split``); ``{"inputs": ["<base64>", ...]}`` when
served. Anything else: a :class:`YolopsError` that says what was expected.
Params (optional): ``conf``, ``iou``, ``max_det``.
Output: a DataFrame, one row per box: ``image`` (index in the batch), ``x1 y1 x2 y2``
(xyxy, pixels of that image), ``score``, ``class_id``, ``class_name``.
"""

from __future__ import annotations

import base64
import binascii
import re
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
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from yolops._version import __version__
from yolops.data.images import decode_image
from yolops.errors import ImageReadError, YolopsError
from yolops.infer.predictor import load_predictor

COLUMNS = ("image", "x1", "y1", "x2", "y2", "score", "class_id", "class_name")
_MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")


def as_image_list(model_input: Any) -> list[np.ndarray]:
    """A pyfunc input -> RGB uint8 images (H, W, 3); a :class:`YolopsError` naming the
    item and what is wrong for anything else.

    Accepted: one image (H, W, 3); a batch (B, H, W, 3); a list (or 1-D object array,
    pandas Series, one-column DataFrame, one-key dict) whose items are images of any
    sizes, encoded image bytes (JPEG, PNG, ...) or base64 strings of them (a
    ``data:image/...;base64,`` prefix is allowed). Pixel arrays may be any integer
    dtype with values in 0..255 (JSON payloads arrive as int64)."""
    if isinstance(model_input, dict):
        if len(model_input) != 1:
            raise YolopsError(
                f"expected one input, got a dict with keys {sorted(map(str, model_input))}"
            )
        model_input = next(iter(model_input.values()))
    if isinstance(model_input, pd.DataFrame):
        if model_input.shape[1] != 1:
            raise YolopsError(
                "expected a DataFrame with one column of images (bytes or base64 strings), "
                f"got columns {list(map(str, model_input.columns))}"
            )
        model_input = model_input.iloc[:, 0]
    if isinstance(model_input, pd.Series):
        model_input = model_input.tolist()
    if isinstance(model_input, (bytes, bytearray, memoryview, str)):
        return [_one_image(model_input, "the input")]
    if isinstance(model_input, np.ndarray) and model_input.dtype.kind not in "OSU":
        return _pixel_arrays(model_input)
    if isinstance(model_input, np.ndarray):  # strings, bytes or arrays as objects
        model_input = model_input.reshape(-1).tolist() if model_input.ndim else [model_input.item()]
    if isinstance(model_input, (list, tuple)):
        if model_input and not any(isinstance(x, _ITEM_TYPES) for x in model_input):
            # nested lists of numbers: one image or a batch of same-size images
            try:
                array = np.asarray(model_input)
            except ValueError:  # ragged: a list of images of different sizes
                array = None
            if array is not None and array.dtype.kind not in "OSU":
                return _pixel_arrays(array)
        return [_one_image(x, f"item {i}") for i, x in enumerate(model_input)]
    raise YolopsError(
        "expected an RGB uint8 image (H, W, 3), a batch (B, H, W, 3), encoded image bytes, "
        f"a base64 string or a list of these, got {type(model_input).__name__}"
    )


_ITEM_TYPES = (np.ndarray, bytes, bytearray, memoryview, str)
_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)


def _pixel_arrays(array: np.ndarray) -> list[np.ndarray]:
    if array.ndim == 3:
        return [_pixels(array, "the input")]
    if array.ndim == 4:
        return [_pixels(x, f"image {i}") for i, x in enumerate(array)]
    raise YolopsError(
        f"expected an image (H, W, 3) or a batch (B, H, W, 3), got shape {array.shape}"
    )


def _pixels(array: np.ndarray, what: str) -> np.ndarray:
    """An RGB image array as uint8; refuses other shapes, floats and values off 0..255
    rather than casting them (a float image in [0, 1] would become black)."""
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise YolopsError(f"{what}: expected an RGB image (H, W, 3), got shape {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind not in "iu":
        raise YolopsError(f"{what}: expected uint8 pixels (0..255), got dtype {array.dtype}")
    if array.min() < 0 or array.max() > 255:
        raise YolopsError(
            f"{what}: pixel values must be in 0..255, got {array.min()}..{array.max()}"
        )
    return np.ascontiguousarray(array, dtype=np.uint8)


def _one_image(item: Any, what: str) -> np.ndarray:
    """One item of a list: pixels, encoded bytes or a base64 string of them."""
    if isinstance(item, str):
        text = _DATA_URI.sub("", item.strip(), count=1)
        try:
            item = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise YolopsError(
                f"{what}: a string must be a base64-encoded image (JPEG, PNG, ...)"
            ) from None
    if isinstance(item, (bytes, bytearray, memoryview)):
        try:
            return decode_image(bytes(item), what)
        except ImageReadError as e:
            raise YolopsError(f"{what}: {e.reason} (expected JPEG, PNG, ... bytes)") from None
    if isinstance(item, (list, tuple)):
        try:
            item = np.asarray(item)
        except ValueError:
            raise YolopsError(f"{what}: nested lists of uneven lengths are not an image") from None
    if isinstance(item, np.ndarray) and item.dtype.kind not in "OSU":
        return _pixels(item, what)
    raise YolopsError(
        f"{what}: expected an RGB uint8 image (H, W, 3), encoded image bytes or a base64 "
        f"string, got {type(item).__name__}"
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
    """Outputs and params only. An input schema would make MLflow enforce one layout
    before ``predict`` sees the data (a TensorSpec (-1, -1, -1, 3) refuses a single
    (H, W, 3) image and lists of images of different sizes; a binary column refuses
    arrays), so :func:`as_image_list` checks the input and names what is wrong."""
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
    return ModelSignature(inputs=None, outputs=outputs, params=params)


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
