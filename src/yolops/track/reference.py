"""Reference statistics of a model version: what "normal" looks like for monitoring,
built when the version is registered and kept with it in the registry.

Built from the data the version was trained and validated on, with the same functions
the server uses on live traffic:

- input: :func:`yolops.data.image_stats.image_statistics` (brightness, contrast,
  sharpness) and the size of up to ``max_images`` training and validation images,
  decoded as the server decodes them for this model (a large JPEG at reduced scale);
- predictions: the model's detections on the validation images (held-out data, so
  its confidences are those of unseen images), kept per image as (class, score)
  down to a low floor, so that monitoring can apply whatever confidence threshold
  the server used.

They are logged as an artifact of the version's training run,
``monitoring/<name>-v<version>.json``, and the version is tagged ``monitor.reference``
with that artifact's URI, so that any machine that can read the registry finds them:

    ref = build_reference("best.onnx", Dataset.load("data.yaml"))
    ref.save("reference.json"); Reference.load("reference.json")
    uri = attach_reference(ws, "shapes/3")                    # from the run's own dataset
    uri = attach_reference(ws, "shapes/3", data="data.yaml")  # or from this one
    ref = load_reference(ws, "shapes@production")
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow.artifacts
import numpy as np

from yolops.data.dataset import Dataset
from yolops.data.image_stats import STATS, image_statistics
from yolops.data.images import read_image_for_model
from yolops.errors import ImageReadError, ReferenceStatsError, TrackingError, YolopsError
from yolops.infer.predictor import load_predictor
from yolops.track.resolve import resolve_model
from yolops.track.store import get_run, mlflow_error, model_version, store_errors
from yolops.track.tracking import TAG_REFERENCE
from yolops.workspace import Workspace

FORMAT = 1
CONF_FLOOR = 0.05  # detections kept down to this score; monitoring filters higher
INPUT_FEATURES = (*STATS, "width", "height")


@dataclass(frozen=True)
class Reference:
    """Statistics of the data a model version was trained and validated on.

    ``inputs`` maps each of :data:`INPUT_FEATURES` to one value per image;
    ``detections`` holds, per validation image, ``[class name, score]`` pairs with
    score >= ``conf_floor``."""

    model_name: str
    model_version: str
    dataset: str
    dataset_hash: str
    class_names: tuple[str, ...]
    inputs: dict[str, list[float]]
    detections: list[list[tuple[str, float]]]
    conf_floor: float = CONF_FLOOR
    splits: dict[str, int] = field(default_factory=dict)  # images used per split
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def num_images(self) -> int:
        return len(next(iter(self.inputs.values()), []))

    def input_values(self, feature: str) -> np.ndarray:
        return np.asarray(self.inputs.get(feature, []), np.float64)

    def detections_at(self, conf: float) -> list[list[tuple[str, float]]]:
        """Per validation image, the detections a server with threshold ``conf`` returns."""
        if conf < self.conf_floor:
            raise ReferenceStatsError(
                f"reference predictions were kept down to score {self.conf_floor}; "
                f"cannot compare at a lower threshold {conf}"
            )
        return [[(c, s) for c, s in image if s >= conf] for image in self.detections]

    def with_version(self, name: str, version: str) -> Reference:
        return Reference(
            **{
                **asdict(self),
                "model_name": name,
                "model_version": str(version),
                "class_names": self.class_names,
            }
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        d["detections"] = [[[c, round(s, 5)] for c, s in image] for image in self.detections]
        return {"format": FORMAT, **d}

    @classmethod
    def from_dict(cls, d: dict, source: str = "reference") -> Reference:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ReferenceStatsError(
                f"{source}: not a yolops reference statistics file (format {FORMAT})"
            )
        try:
            return cls(
                model_name=str(d["model_name"]),
                model_version=str(d["model_version"]),
                dataset=str(d["dataset"]),
                dataset_hash=str(d["dataset_hash"]),
                class_names=tuple(d["class_names"]),
                inputs={k: [float(v) for v in vs] for k, vs in d["inputs"].items()},
                detections=[[(str(c), float(s)) for c, s in image] for image in d["detections"]],
                conf_floor=float(d["conf_floor"]),
                splits={k: int(v) for k, v in d.get("splits", {}).items()},
                created_at=str(d.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ReferenceStatsError(
                f"{source}: malformed reference statistics ({type(e).__name__}: {e})"
            ) from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Reference:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as e:
            raise ReferenceStatsError(
                f"{path}: cannot read reference statistics ({e.strerror})"
            ) from None
        except json.JSONDecodeError as e:
            raise ReferenceStatsError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
        return cls.from_dict(data, str(path))


def build_reference(
    model,
    dataset: Dataset,
    input_splits: Sequence[str] = ("train", "val"),
    prediction_split: str = "val",
    max_images: int = 1000,
    name: str = "",
    version: str = "",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Reference:
    """Reference statistics of ``model`` (a model file or a predictor) on ``dataset``.

    Inputs come from ``input_splits`` (those the dataset has; all of it when it has
    none of them), predictions from ``prediction_split`` (else the same images), each
    at most ``max_images`` images drawn at random with ``seed``. ``progress(done, total)``
    is called after each image. Unreadable images are counted and reported, not used."""
    predictor = model if hasattr(model, "predict") else load_predictor(model)
    present = [s for s in input_splits if s in dataset.splits]
    input_ids = (
        {i for s in present for i in dataset.splits[s]} if present else {r.id for r in dataset}
    )
    pred_ids = (
        set(dataset.splits[prediction_split]) if prediction_split in dataset.splits else input_ids
    )
    rng = random.Random(seed)
    input_sample = set(_sample(sorted(input_ids), max_images, rng))
    pred_sample = set(_sample(sorted(pred_ids), max_images, rng))
    records = [r for r in dataset if r.id in input_sample or r.id in pred_sample]
    if not records:
        raise ReferenceStatsError(
            f"dataset {dataset.name!r} has no images to build reference statistics from"
        )
    inputs: dict[str, list[float]] = {k: [] for k in INPUT_FEATURES}
    detections: list[list[tuple[str, float]]] = []
    unreadable: list[str] = []
    imgsz = int(predictor.imgsz)
    for done, record in enumerate(records, 1):
        try:
            # Decoded as the server decodes uploads for this model (a large JPEG at reduced
            # scale): sharpness measured on other pixels would differ by ~15% and alarm.
            image, (width, height) = read_image_for_model(record.path, imgsz)
        except ImageReadError as e:
            unreadable.append(f"{record.path}: {e}")
            continue
        reduced = (width, height) != (image.shape[1], image.shape[0])
        if record.id in input_sample:
            for k, v in image_statistics(image).items():
                inputs[k].append(v)
            inputs["width"].append(float(width))
            inputs["height"].append(float(height))
        if record.id in pred_sample:
            sizes = {"original_sizes": [(width, height)]} if reduced else {}
            (found,) = predictor.predict([image], conf=CONF_FLOOR, **sizes)
            names = found.class_names or predictor.class_names
            detections.append(
                [
                    (names[c], float(s))
                    for c, s in zip(found.classes.tolist(), found.scores.tolist())
                ]
            )
        if progress:
            progress(done, len(records))
    if unreadable and len(unreadable) == len(records):
        raise ReferenceStatsError(
            f"dataset {dataset.name!r}: none of its {len(records)} images could be read "
            f"(first: {unreadable[0]})"
        )
    splits = {s: len(set(dataset.splits[s]) & {r.id for r in records}) for s in dataset.splits}
    if unreadable:
        splits["unreadable"] = len(unreadable)
    return Reference(
        model_name=name,
        model_version=str(version),
        dataset=dataset.name,
        dataset_hash=dataset.content_hash(),
        class_names=tuple(predictor.class_names),
        inputs=inputs,
        detections=detections,
        splits=splits,
    )


def _sample(ids: list[str], k: int, rng: random.Random) -> list[str]:
    return ids if len(ids) <= k else rng.sample(ids, k)


# -- kept with a registered version ----------------------------------------------------------


def attach_reference(
    ws: Workspace,
    ref: str,
    data: str | Path | None = None,
    max_images: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Build the reference statistics of the model version ``ref`` names (served
    ONNX graph, on ``data`` or else the dataset its run trained on), store them with
    the version and return their URI. :class:`ReferenceStatsError` says why it cannot."""
    mv = store_errors(model_version)(ws, ref)
    what = f"model {mv.name} version {mv.version}"
    if not mv.run_id:
        raise ReferenceStatsError(f"{what} has no training run to keep reference statistics with")
    run = store_errors(get_run)(ws, mv.run_id)
    source = str(data or run.data.tags.get("dataset.source", ""))
    if not source:
        raise ReferenceStatsError(
            f"{what}: its run does not say which dataset it trained on; give --data DATA"
        )
    try:
        dataset = Dataset.load(source, workspace=ws)  # a version: in the model's workspace
    except (YolopsError, OSError) as e:
        raise ReferenceStatsError(
            f"{what}: cannot read its dataset {source} ({e}); give the data with "
            f"`yolops models reference {mv.name}/{mv.version} --data DATA`"
        ) from None
    model_path = resolve_model(f"{mv.name}/{mv.version}", ws)
    reference = build_reference(
        model_path,
        dataset,
        max_images=max_images,
        name=mv.name,
        version=str(mv.version),
        progress=progress,
    )
    artifact = f"monitoring/{mv.name}-v{mv.version}.json"
    client = ws.client()
    try:
        client.log_dict(mv.run_id, reference.to_dict(), artifact)
        uri = f"runs:/{mv.run_id}/{artifact}"
        client.set_model_version_tag(mv.name, mv.version, TAG_REFERENCE, uri)
    except Exception as e:
        raise TrackingError(
            f"{what}: cannot store its reference statistics in {ws.tracking_uri}: {mlflow_error(e)}"
        ) from None
    return uri


def load_reference(ws: Workspace, ref: str) -> Reference:
    """The reference statistics stored with the version ``ref`` names."""
    mv = store_errors(model_version)(ws, ref)
    uri = (mv.tags or {}).get(TAG_REFERENCE)
    if not uri:
        raise ReferenceStatsError(
            f"model {mv.name} version {mv.version} has no reference statistics; add them with "
            f"`yolops models reference {mv.name}/{mv.version} --data DATA`"
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with ws.active():
                path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
            text = path.read_text()
        except Exception as e:
            raise ReferenceStatsError(
                f"model {mv.name} version {mv.version}: cannot read its reference statistics "
                f"at {uri}: {mlflow_error(e)}"
            ) from None
    try:
        return Reference.from_dict(json.loads(text), uri)
    except json.JSONDecodeError as e:
        raise ReferenceStatsError(f"{uri}: not JSON ({e.msg})") from None
