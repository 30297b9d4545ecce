"""Label Studio JSON export: a JSON list of tasks, each with ``data`` (the image
reference), ``annotations`` and ``predictions`` (lists of ``{"result": [...]}``).

Only ``rectanglelabels`` results are boxes: ``value`` holds ``x``, ``y``, ``width``,
``height`` in percent of the image and one label; percent times the image file's size
gives xyxy pixels (``original_width``/``original_height`` are only checked). A box with
``rotation`` or ``image_rotation`` not 0 is an error, never converted: yolops boxes are
axis-aligned. Other result types are reported per task, not read.

The image reference is ``data.image``, else the key the label config's ``<Image
value="$key">`` names, else the one string in ``data`` naming an image file. The JSON's
folder is the dataset root and nothing outside it is read. A relative path is looked up
as given, then under ``images/``; ``/data/local-files/?d=PATH`` as PATH, then by file
name in ``images/``; an upload ``/data/upload/3/1a2b3c4d-cat.png`` as
``images/1a2b3c4d-cat.png``, then ``images/cat.png`` (Label Studio prefixes uploads with 8
hex digits and a hyphen), then both at the root; a URL by file name in ``images/``, then
at the root. Other absolute paths are errors. An image's id is its path under
``images/`` (else under the root) without suffix.

Ground truth is a task's first annotation not ``was_cancelled`` (Label Studio lists the
oldest first; ``ground_truth`` marks are not consulted): more are a warning, cancelled
ones a note, and a task with none is set aside (warning), since an unlabelled image is
not an image without objects. Predictions are model pre-annotations: :func:`read`
counts them (info) and :func:`read_predictions` reads them, with a ``score`` per box.

Classes: ``label_config.xml`` beside the JSON (a labeling config; its
``<RectangleLabels>`` give the order) when present, as the writer writes it; else order
of first appearance. Label Studio has no splits: ``data.split`` names one (train, val,
test; another name is kept as a split of that name, with a note), else none. The writer
writes ``tasks.json`` (one task and one annotation per image, ``data.image`` =
``images/<id><suffix>``), ``label_config.xml`` and ``images/``; per-box attributes
(difficult, iscrowd...) have no place in a rectangle result and are not written.
"""

from __future__ import annotations

import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from yolops.data.formats._checks import (
    as_stored,
    check_box,
    parse_json,
    probe_or_log,
    relative_name,
    resolve_inside,
)
from yolops.data.formats._write import place_image, prepare_output
from yolops.data.images import is_image_name
from yolops.data.record import SPLITS, DatasetParts, ImageRecord
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog, Severity

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
RECTANGLE = "rectanglelabels"
COORDS = ("x", "y", "width", "height")
UPLOAD_PREFIX = "/data/upload/"
LOCAL_FILES_PREFIX = "/data/local-files/"
UPLOAD_HASH = re.compile(r"[0-9a-f]{8}-(.+)")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


# -- coordinates ----------------------------------------------------------------------


def percent_to_xyxy(value: dict, width: int, height: int) -> tuple[float, float, float, float]:
    """Label Studio's ``x, y, width, height`` (percent of the image) to xyxy pixels."""
    x, y, w, h = (float(value[k]) for k in COORDS)
    return (x / 100 * width, y / 100 * height, (x + w) / 100 * width, (y + h) / 100 * height)


def xyxy_to_percent(box, width: int, height: int) -> dict[str, float]:
    """xyxy pixels to Label Studio's ``x, y, width, height`` in percent of the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return {
        "x": x1 / width * 100,
        "y": y1 / height * 100,
        "width": (x2 - x1) / width * 100,
        "height": (y2 - y1) / height * 100,
    }


# -- detection and files ------------------------------------------------------------------


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json" and _looks_like_export(path)
    return path.is_dir() and bool(_export_files(path))


def _export_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.json") if p.is_file() and _looks_like_export(p))


def _looks_like_export(file: Path) -> bool:
    # A JSON list (a COCO file is an object) that mentions "data", without parsing:
    # read() parses it and names the line of any syntax error.
    try:
        data = file.read_bytes()
    except OSError:
        return False
    return data.lstrip()[:1] == b"[" and b'"data"' in data


def _export_file(path: Path) -> Path:
    if path.is_file():
        return Path(os.path.normpath(path.absolute()))
    files = _export_files(path)
    if not files:
        raise DatasetFormatError(f"{path}: no Label Studio JSON export (a list of tasks) here")
    if len(files) > 1:
        names = ", ".join(p.name for p in files)
        raise DatasetFormatError(
            f"{path}: holds {len(files)} Label Studio exports ({names}); point at one of them"
        )
    return Path(os.path.normpath(files[0].absolute()))


def load_json(file: Path) -> list:
    """Parse a Label Studio export and check its top level; problems raise
    DatasetFormatError."""
    try:
        data = parse_json(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetFormatError(
            f"{file}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetFormatError(f"{file}: cannot read: {e}") from None
    if not isinstance(data, list):
        raise DatasetFormatError(
            f"{file}: a Label Studio export must hold a JSON list of tasks, "
            f"got {type(data).__name__}"
        )
    if data and not any(isinstance(t, dict) and "data" in t for t in data):
        raise DatasetFormatError(
            f"{file}: no task has a 'data' object; not a Label Studio JSON export "
            "(JSON-MIN and CSV exports are not read: export as JSON)"
        )
    return data


@dataclass(frozen=True)
class LabelConfig:
    """What yolops reads from a labeling config: the rectangle labels in order, and
    the data key the ``<Image>`` tag shows (``$image`` -> ``image``)."""

    class_names: tuple[str, ...]
    image_key: str | None


def read_label_config(file: Path) -> LabelConfig | None:
    """The labeling config in ``file``; None when there is no such file."""
    if not file.is_file():
        return None
    try:
        tree = ET.parse(file).getroot()
    except ET.ParseError as e:
        line, column = e.position
        raise DatasetFormatError(
            f"{file}: malformed XML at line {line}, column {column}: {str(e).split(': line')[0]}"
        ) from None
    except OSError as e:
        raise DatasetFormatError(f"{file}: cannot read: {e}") from None
    names = [
        label.get("value", "")
        for labels in tree.iter("RectangleLabels")
        for label in labels.iter("Label")
    ]
    if not all(names):
        raise DatasetFormatError(f"{file}: a <Label> under <RectangleLabels> has no value")
    if len(set(names)) != len(names):
        raise DatasetFormatError(f"{file}: repeats a label: {names}")
    image = next(tree.iter("Image"), None)
    key = image.get("value", "").removeprefix("$") if image is not None else ""
    return LabelConfig(tuple(names), key or None)


def label_config_xml(class_names: tuple[str, ...]) -> str:
    """A labeling config with one ``<Image>`` and the classes as rectangle labels:
    what Label Studio needs to show the tasks the writer writes."""
    view = ET.Element("View")
    ET.SubElement(view, "Image", name="image", value="$image")
    labels = ET.SubElement(view, "RectangleLabels", name="label", toName="image")
    for name in class_names:
        ET.SubElement(labels, "Label", value=name)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    """One task that has a data object and an image reference."""

    where: str
    entry: dict
    reference: str


@dataclass
class _Image:
    """One image being read: its record fields and its boxes so far."""

    id: str
    path: Path
    width: int
    height: int
    split: object  # data.split as found; checked by _splits
    boxes: list = field(default_factory=list)
    classes: list = field(default_factory=list)
    scores: list = field(default_factory=list)


# (location, result, score): a result to read as a box, where it is, and its score
_Result = tuple[str, object, float]


def read(path: Path, issues: IssueLog) -> DatasetParts:
    return _read(path, issues, predictions=False)


def read_predictions(path: Path, issues: IssueLog) -> DatasetParts:
    """The tasks' predictions (model pre-annotations), which :func:`read` leaves out of
    the ground truth: every task whose image loads, with the boxes of all its
    predictions and a ``score`` attribute per box (the result's ``score``, else the
    prediction's, else NaN). Class names are :func:`read`'s, then any that only
    predictions use."""
    return _read(path, issues, predictions=True)


def _read(path: Path, issues: IssueLog, predictions: bool) -> DatasetParts:
    file = _export_file(path)
    root = file.parent
    name = relative_name(file, root)
    config = read_label_config(root / CONFIG_FILE)
    tasks = _tasks(load_json(file), config, name, issues)
    # Ground truth fixes the class order, for predictions too; its reading notes
    # (several annotations...) are read()'s to give, not read_predictions()'s.
    truth_issues = IssueLog() if predictions else issues
    truth = [(t, r) for t in tasks if (r := _annotation_results(t, name, truth_issues)) is not None]
    if predictions:
        chosen = [(t, _prediction_results(t, name, issues)) for t in tasks]
    else:
        chosen = truth
        _note_predictions(tasks, name, issues)
    class_names = _class_names(config, truth + chosen if predictions else truth)
    class_of = {n: i for i, n in enumerate(class_names)}
    images: dict[str, _Image] = {}
    for task, results in chosen:
        image = _read_image(task, len(results), root, name, images, issues)
        if image is None:
            continue
        images[image.id] = image
        _read_results(task, results, image, class_of, name, issues)
    records = [_record(image, predictions) for image in images.values()]
    splits = _splits(images, name, issues)
    return DatasetParts(records, class_names, splits, root.name, root)


def _tasks(data: list, config: LabelConfig | None, name: str, issues: IssueLog) -> list[_Task]:
    """The tasks that have a data object naming an image; the others are reported."""
    key = config.image_key if config is not None else None
    tasks = []
    for k, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict):
            issues.add(
                "record_malformed",
                Severity.ERROR,
                f"task must be an object with a 'data' object, got {str(entry)[:120]}; set aside",
                name,
                f"tasks[{k}]",
            )
            continue
        task_id = entry.get("id")
        where = f"tasks[{k}]" + (f" (id {task_id})" if task_id is not None else "")
        reference = image_reference(entry["data"], key)
        if reference is None:
            issues.add(
                "record_malformed",
                Severity.ERROR,
                f"data names no image (no string under {key or 'image'!r}, and not exactly "
                f"one value naming an image file): {str(entry['data'])[:120]}; task set aside",
                name,
                where,
            )
            continue
        tasks.append(_Task(where, entry, reference))
    return tasks


def image_reference(data: dict, key: str | None = None) -> str | None:
    """The image a task's ``data`` names: under ``key`` (the config's), ``image``,
    else the one string value that names an image file; None when none or several."""
    for k in (key, "image"):
        if k and isinstance(data.get(k), str):
            return data[k]
    found = [v for v in data.values() if isinstance(v, str) and is_image_name(_file_name(v))]
    return found[0] if len(found) == 1 else None


def _annotation_results(task: _Task, name: str, issues: IssueLog) -> list[_Result] | None:
    """The results of the task's first annotation that was not cancelled; None, after
    a warning, when there is none."""
    annotations = task.entry.get("annotations", [])
    if not isinstance(annotations, list):
        _not_a_list(task, "annotations", annotations, "task set aside", name, issues)
        return None
    usable, cancelled = [], 0
    for a, ann in enumerate(annotations):
        if not isinstance(ann, dict) or not isinstance(ann.get("result", []), list):
            issues.add(
                "record_malformed",
                Severity.ERROR,
                f"an annotation must be an object with a 'result' list, got {str(ann)[:120]}; "
                "not read",
                name,
                f"{task.where}, annotations[{a}]",
            )
        elif ann.get("was_cancelled"):
            cancelled += 1
        else:
            usable.append((a, ann))
    if not usable:
        _unlabelled(task, cancelled, name, issues)
        return None
    a, ann = usable[0]
    if len(usable) > 1:
        issues.add(
            "annotations_several",
            Severity.WARNING,
            f"task has {len(usable)} annotations; the first (annotations[{a}]) is read, "
            f"not annotations{[i for i, _ in usable[1:]]}",
            name,
            task.where,
        )
    if cancelled:
        issues.add(
            "annotation_cancelled",
            Severity.INFO,
            f"{cancelled} cancelled (skipped) annotation(s) not read",
            name,
            task.where,
        )
    where = f"{task.where}, annotations[{a}]"
    return [(f"{where}.result[{r}]", res, math.nan) for r, res in enumerate(ann.get("result", []))]


def _unlabelled(task: _Task, cancelled: int, name: str, issues: IssueLog) -> None:
    if cancelled:
        why = f"all {cancelled} annotation(s) were cancelled (skipped in Label Studio)"
    else:
        why = "task has no annotation"
    predictions = task.entry.get("predictions")
    if isinstance(predictions, list) and predictions:
        why += f" (its {len(predictions)} prediction(s) are not ground truth)"
    issues.add(
        "task_unlabelled",
        Severity.WARNING,
        f"{why}; image set aside: an unlabelled image is not an image without objects",
        name,
        task.where,
    )


def _prediction_results(task: _Task, name: str, issues: IssueLog) -> list[_Result]:
    predictions = task.entry.get("predictions", [])
    if not isinstance(predictions, list):
        _not_a_list(task, "predictions", predictions, "not read", name, issues)
        return []
    results = []
    for p, pred in enumerate(predictions):
        where = f"{task.where}, predictions[{p}]"
        if not isinstance(pred, dict) or not isinstance(pred.get("result", []), list):
            issues.add(
                "record_malformed",
                Severity.ERROR,
                f"a prediction must be an object with a 'result' list, got {str(pred)[:120]}; "
                "not read",
                name,
                where,
            )
            continue
        for r, res in enumerate(pred.get("result", [])):
            score = res.get("score", pred.get("score")) if isinstance(res, dict) else None
            results.append((f"{where}.result[{r}]", res, _score(score)))
    return results


def _not_a_list(
    task: _Task, key: str, value: object, consequence: str, name: str, issues: IssueLog
) -> None:
    issues.add(
        "record_malformed",
        Severity.ERROR,
        f"{key!r} must be a list, got {type(value).__name__}; {consequence}",
        name,
        f"{task.where}, {key}",
    )


def _score(value: object) -> float:
    return float(value) if _is_number(value) else math.nan


def _note_predictions(tasks: list[_Task], name: str, issues: IssueLog) -> None:
    """Predictions are not ground truth, but must not vanish without a word."""
    lists = [p for t in tasks if isinstance(p := t.entry.get("predictions"), list) and p]
    if not lists:
        return
    results = sum(
        len(p["result"])
        for predictions in lists
        for p in predictions
        if isinstance(p, dict) and isinstance(p.get("result"), list)
    )
    issues.add(
        "predictions_not_read",
        Severity.INFO,
        f"{sum(map(len, lists))} prediction(s) in {len(lists)} task(s), with {results} "
        "result(s), are model pre-annotations, not ground truth; not read as labels "
        "(yolops.data.formats.labelstudio.read_predictions reads them)",
        name,
    )


def _class_names(
    config: LabelConfig | None, read: list[tuple[_Task, list[_Result]]]
) -> tuple[str, ...]:
    """The config's rectangle labels; else the labels of the results ``read``, in order
    of first appearance."""
    if config is not None and config.class_names:
        return config.class_names
    names: dict[str, None] = {}
    for _, results in read:
        for _, result, _ in results:
            label = _label(result)
            if isinstance(label, str):
                names.setdefault(label)
    return tuple(names)


def _label(result: object) -> object:
    """The one label of a rectangle result; None when it has none or several."""
    if not isinstance(result, dict) or result.get("type") != RECTANGLE:
        return None
    value = result.get("value")
    labels = value.get(RECTANGLE) if isinstance(value, dict) else None
    return labels[0] if isinstance(labels, list) and len(labels) == 1 else None


# -- images -----------------------------------------------------------------------------


def reference_paths(reference: str) -> tuple[str | None, list[str]] | None:
    """Where the image a task names may be, relative to the root: (the path it gives,
    or None when it gives only a file name; the places to look, in order). None when
    it is an absolute path that is not one of Label Studio's."""
    if reference.startswith(LOCAL_FILES_PREFIX):
        given = parse_qs(urlsplit(reference).query).get("d", [""])[0]
        return given, [given, f"images/{PurePosixPath(given).name}"]
    if reference.startswith(UPLOAD_PREFIX):
        names = [unquote(reference.rsplit("/", 1)[-1])]
        if match := UPLOAD_HASH.fullmatch(names[0]):
            names.append(match.group(1))
        return None, [f"images/{n}" for n in names] + names
    if URL.match(reference):
        file_name = unquote(PurePosixPath(urlsplit(reference).path).name)
        return None, [f"images/{file_name}", file_name]
    if reference.startswith(("/", "\\")) or os.path.isabs(reference):
        return None
    return reference, [reference, f"images/{reference}"]


def _file_name(reference: str) -> str:
    """The file name a reference ends in, for ids and messages."""
    found = reference_paths(reference)
    places = found[1] if found is not None else [reference]
    return PurePosixPath(places[-1].replace("\\", "/")).name if places else ""


def _read_image(
    task: _Task,
    num_results: int,
    root: Path,
    name: str,
    images: dict[str, _Image],
    issues: IssueLog,
) -> _Image | None:
    aside = f"task set aside with its {num_results} result(s)"
    reference = task.reference
    found = reference_paths(reference)
    if found is None or (found[0] is not None and resolve_inside(root, found[0]) is None):
        issues.add(
            "path_escapes_root",
            Severity.ERROR,
            f"image {reference!r} leaves the dataset root {root}; {aside}",
            name,
            task.where,
        )
        return None
    candidates = [c for p in found[1] if (c := resolve_inside(root, p)) is not None]
    candidates = list(dict.fromkeys(candidates))
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        looked = ", ".join(relative_name(c, root) for c in candidates)
        issues.add(
            "image_missing",
            Severity.ERROR,
            f"image {reference!r} not found (looked for {looked}); {aside}",
            name,
            task.where,
            PurePosixPath(_file_name(reference)).stem,
        )
        return None
    image_id = image_id_of(path, root)
    if image_id in images:
        issues.add(
            "image_id_duplicate",
            Severity.ERROR,
            f"image {image_id!r} ({relative_name(path, root)}) was already read from an "
            f"earlier task; {aside}",
            name,
            task.where,
            image_id,
        )
        return None
    info = probe_or_log(
        path, issues, relative_name(path, root), image_id, f"{aside} (in {name}, {task.where})"
    )
    if info is None:
        return None
    split = task.entry["data"].get("split")
    return _Image(image_id, path, info.width, info.height, split)


def image_id_of(path: Path, root: Path) -> str:
    """The path under the root's ``images/`` (else under the root), without suffix."""
    images = root / "images"
    base = images if images in path.parents else root
    return path.relative_to(base).with_suffix("").as_posix()


# -- boxes -------------------------------------------------------------------------------


def _read_results(
    task: _Task,
    results: list[_Result],
    image: _Image,
    class_of: dict[str, int],
    name: str,
    issues: IssueLog,
) -> None:
    skipped: Counter = Counter()
    sizes = set()
    for where, result, score in results:
        kind = result.get("type") if isinstance(result, dict) else None
        if isinstance(kind, str) and kind != RECTANGLE:
            skipped[kind] += 1
            continue
        box = _read_box(where, result, image, class_of, name, issues)
        if box is not None:
            image.boxes.append(box[0])
            image.classes.append(box[1])
            image.scores.append(score)
            sizes.add((result.get("original_width"), result.get("original_height")))
    sizes -= {(None, None), (image.width, image.height)}
    if skipped:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
        issues.add(
            "result_skipped",
            Severity.WARNING,
            f"{sum(skipped.values())} result(s) that are not rectangles not read ({kinds}); "
            f"yolops reads only {RECTANGLE}",
            name,
            task.where,
            image.id,
        )
    if sizes:
        said = ", ".join(sorted(f"{w}x{h}" for w, h in sizes))
        issues.add(
            "size_mismatch",
            Severity.WARNING,
            f"results say the image is {said} (original_width x original_height) but the image "
            f"file is {image.width}x{image.height}; percentages are taken of the file's size",
            name,
            task.where,
            image.id,
        )


def _read_box(
    where: str,
    result: object,
    image: _Image,
    class_of: dict[str, int],
    name: str,
    issues: IssueLog,
) -> tuple[tuple[float, float, float, float], int] | None:
    def bad(code: str, message: str) -> None:
        issues.add(code, Severity.ERROR, f"{message}; set aside", name, where, image.id)

    value = result.get("value") if isinstance(result, dict) else None
    if not isinstance(value, dict) or result.get("type") != RECTANGLE:
        bad("box_malformed", f"result needs a 'type' and a 'value' object, got {str(result)[:120]}")
        return None
    label = _label(result)
    if not isinstance(label, str):
        bad("box_malformed", f"{RECTANGLE} must hold one label, got {value.get(RECTANGLE)!r}")
        return None
    if label not in class_of:
        bad("class_unknown", f"label {label!r} is not in {CONFIG_FILE} ({', '.join(class_of)})")
        return None
    coords = [value.get(k) for k in COORDS]
    if not all(_is_number(v) for v in coords):
        bad("box_malformed", f"x, y, width, height must be numbers (percent), got {coords}")
        return None
    for key, turned in (("rotation", value), ("image_rotation", result)):
        angle = turned.get(key, 0)
        if not _is_number(angle):
            bad("box_malformed", f"{key} must be a number (degrees), got {angle!r}")
            return None
        if angle != 0:
            what = "box is rotated" if key == "rotation" else "box was drawn on the image rotated"
            bad("box_rotated", f"{what} by {angle:g} degrees; yolops boxes are axis-aligned")
            return None
    box = as_stored(percent_to_xyxy(value, image.width, image.height))
    if not check_box(box, image.width, image.height, issues, name, where, image.id):
        return None
    return box, class_of[label]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _splits(images: dict[str, _Image], name: str, issues: IssueLog) -> dict[str, list[str]]:
    """Splits from ``data.split``: train, val and test in any case; other names kept
    as they are (noted once each); anything but a string, a warning."""
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for image in images.values():
        split = image.split
        if split is None:
            continue
        if not isinstance(split, str) or not split.strip():
            issues.add(
                "split_invalid",
                Severity.WARNING,
                f"data.split is {split!r}, not a split name; image in no split",
                name,
                None,
                image.id,
            )
            continue
        splits.setdefault(split.lower() if split.lower() in SPLITS else split, []).append(image.id)
    for split in splits:
        if split not in SPLITS:
            issues.add(
                "split_unknown",
                Severity.INFO,
                f"data.split {split!r} ({len(splits[split])} image(s)) is not train, val or "
                "test; kept as a split of that name",
                name,
            )
    return {s: ids for s, ids in splits.items() if ids}


def _record(image: _Image, predictions: bool) -> ImageRecord:
    attributes = {"score": np.array(image.scores, np.float64)} if predictions else {}
    return ImageRecord(
        image.id,
        image.path,
        image.width,
        image.height,
        np.array(image.boxes, np.float32).reshape(-1, 4),
        np.array(image.classes, np.int64),
        attributes,
    )


# -- writing ---------------------------------------------------------------------------


def write(dataset: Dataset, out: Path) -> Path:
    """Write ``out/tasks.json`` (one task per image, its split in ``data.split``),
    ``out/label_config.xml`` (the class order) and the images under ``out/images/``;
    returns ``out``."""
    out = prepare_output(dataset, out, "labelstudio")
    split_of = {i: s for s, ids in dataset.splits.items() for i in ids}
    tasks = []
    for k, r in enumerate(dataset):
        file_name = f"images/{r.id}{r.path.suffix}"
        place_image(r.path, out / file_name)
        data = {"image": file_name}
        if r.id in split_of:
            data["split"] = split_of[r.id]
        result = [
            _result(j, box, dataset.class_names[int(cls)], r.width, r.height)
            for j, (box, cls) in enumerate(zip(r.boxes, r.classes))
        ]
        annotation = {"id": k + 1, "was_cancelled": False, "ground_truth": False, "result": result}
        tasks.append({"id": k + 1, "data": data, "annotations": [annotation], "predictions": []})
    (out / TASKS_FILE).write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    (out / CONFIG_FILE).write_text(label_config_xml(dataset.class_names), encoding="utf-8")
    return out


def _result(j: int, box, label: str, width: int, height: int) -> dict:
    return {
        "id": f"box{j}",
        "type": RECTANGLE,
        "from_name": "label",
        "to_name": "image",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {**xyxy_to_percent(box, width, height), "rotation": 0, RECTANGLE: [label]},
    }
