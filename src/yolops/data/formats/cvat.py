"""CVAT for images 1.1 XML: ``annotations.xml`` with ``<meta>`` (the labels) and one
``<image id name width height [subset]>`` per image holding ``<box label xtl ytl xbr
ybr occluded [rotation]>`` elements, in pixels (xyxy, as yolops holds them).

A dataset is one such XML file, or a folder holding exactly one at its top level; its
folder is the dataset root and nothing outside it is read. An image is looked up as
``images/<subset>/<name>`` (CVAT's project export), ``images/<name>`` (a task export),
then ``<name>``; its id is its path under ``images/`` (else under the root) without
suffix, so two subsets may hold the same name. ``name`` leaving the root is an error.

Classes: the labels of ``<meta>`` (task, job or project), in order, leaving out
skeleton parts and labels typed for other shapes; without labels, order of first
appearance. Splits: the image's ``subset``, else the task's ``<subset>`` in ``<meta>``:
Train/Training -> train, Validation/Val/Valid -> val, Test/Testing -> test (any case);
``default`` or empty -> no split; any other name is kept as a split of that name, with
a note (other formats store only train, val and test, and say so when writing).

Per box, ``occluded`` becomes the attribute ``occluded`` (0/1; CVAT's flag, not VOC's
``truncated``) and each ``<attribute name="n">`` child the attribute ``n`` (``true`` and
``false`` as booleans, numbers as numbers, else text). A box with ``rotation`` not 0 is
an error, never converted: yolops boxes are axis-aligned. Polygons, polylines, points,
masks, ellipses, cuboids, skeletons and tags are not read, and reported per image; a
file with ``<track>`` elements is CVAT for video, which is refused.

The writer writes ``annotations.xml`` (subsets Train, Validation, Test as CVAT names
them; images in no split have none) and the images under ``images/``.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from yolops.data.formats._build import uniform_records
from yolops.data.formats._checks import (
    as_stored,
    check_box,
    probe_or_log,
    relative_name,
    resolve_inside,
    stated_size_issue,
)
from yolops.data.formats._write import place_image, prepare_output
from yolops.data.record import SPLITS, DatasetParts, ImageRecord
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog, Severity

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

ANNOTATIONS_FILE = "annotations.xml"
VERSION = "1.1"
COORDS = ("xtl", "ytl", "xbr", "ybr")
BOX_LABEL_TYPES = ("any", "rectangle")
OCCLUDED = "occluded"
SUBSET_OF = {"train": "Train", "val": "Validation", "test": "Test"}
SPLIT_OF = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
NO_SUBSET = ("", "default")
INTEGER = re.compile(r"[+-]?[0-9]+")


# -- detection and files ------------------------------------------------------------------


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".xml" and _looks_like_cvat(path)
    return path.is_dir() and bool(_annotation_files(path))


def _annotation_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.xml") if p.is_file() and _looks_like_cvat(p))


def _looks_like_cvat(file: Path) -> bool:
    # The root element only (a VOC annotation is <annotation>, a Label Studio config
    # <View>): cheap for a large file; read() parses it all and names any syntax error.
    try:
        with open(file, "rb") as f:
            _, element = next(ET.iterparse(f, events=("start",)))
    except (ET.ParseError, OSError, StopIteration):
        return False
    return element.tag == "annotations"


def _annotation_file(path: Path) -> Path:
    if path.is_file():
        return Path(os.path.normpath(path.absolute()))
    files = _annotation_files(path)
    if not files:
        raise DatasetFormatError(f"{path}: no CVAT XML (<annotations>) here")
    if len(files) > 1:
        names = ", ".join(p.name for p in files)
        raise DatasetFormatError(
            f"{path}: holds {len(files)} CVAT XML files ({names}); point at one of them"
        )
    return Path(os.path.normpath(files[0].absolute()))


def load_xml(file: Path, issues: IssueLog) -> ET.Element:
    """Parse a CVAT XML file and check its top level; problems raise DatasetFormatError."""
    try:
        root = ET.parse(file).getroot()
    except ET.ParseError as e:
        line, column = e.position
        raise DatasetFormatError(
            f"{file}: malformed XML at line {line}, column {column}: {str(e).split(': line')[0]}"
        ) from None
    except OSError as e:
        raise DatasetFormatError(f"{file}: cannot read: {e}") from None
    if root.tag != "annotations":
        raise DatasetFormatError(f"{file}: root element is <{root.tag}>, not <annotations>")
    if root.find("track") is not None:
        raise DatasetFormatError(
            f"{file}: holds <track> elements (CVAT for video); export the task as "
            "'CVAT for images 1.1'"
        )
    version = (root.findtext("version") or "").strip()
    if version != VERSION:
        issues.add(
            "format_version",
            Severity.INFO,
            f"<version> is {version or 'missing'!r}, not {VERSION}; read as {VERSION}",
            file.name,
            "version",
        )
    return root


# -- reading ---------------------------------------------------------------------------


@dataclass
class _Image:
    """One image being read: its record fields and its boxes so far."""

    id: str
    path: Path
    width: int
    height: int
    subset: str | None
    boxes: list = field(default_factory=list)
    classes: list = field(default_factory=list)
    attributes: list[dict] = field(default_factory=list)


def read(path: Path, issues: IssueLog) -> DatasetParts:
    file = _annotation_file(path)
    root = file.parent
    name = relative_name(file, root)
    tree = load_xml(file, issues)
    elements = tree.findall("image")
    class_names = label_names(tree, file)
    if class_names is None:
        labels = (box.get("label") for e in elements for box in e.findall("box"))
        class_names = tuple(dict.fromkeys(label for label in labels if label))
    class_of = {n: i for i, n in enumerate(class_names)}
    task_subset = tree.findtext("meta/task/subset")
    images: dict[str, _Image] = {}
    for k, element in enumerate(elements):
        image = _read_image(element, k, task_subset, root, name, images, issues)
        if image is None:
            continue
        images[image.id] = image
        _read_shapes(element, _where(element, k), image, class_of, name, issues)
    records = uniform_records(list(images.values()), always=(OCCLUDED,))
    splits = _splits(images, name, issues)
    return DatasetParts(records, class_names, splits, root.name, root)


def label_names(tree: ET.Element, file: Path) -> tuple[str, ...] | None:
    """The box labels ``<meta>`` declares, in order; None when it declares none."""
    labels = tree.find("meta/*/labels")
    if labels is None:
        return None
    names = [
        (label.findtext("name") or "").strip()
        for label in labels.findall("label")
        if not (label.findtext("parent") or "").strip()  # a skeleton's part
        and (label.findtext("type") or "any").strip() in BOX_LABEL_TYPES
    ]
    if not all(names):
        raise DatasetFormatError(f"{file}: a <label> in <meta> has no <name>")
    if len(set(names)) != len(names):
        raise DatasetFormatError(f"{file}: <meta> repeats a label: {names}")
    return tuple(names)


def _where(element: ET.Element, k: int) -> str:
    cvat_id = element.get("id")
    return f"image id {cvat_id}" if cvat_id is not None else f"image[{k}]"


def _read_image(
    element: ET.Element,
    k: int,
    task_subset: str | None,
    root: Path,
    name: str,
    images: dict[str, _Image],
    issues: IssueLog,
) -> _Image | None:
    where = _where(element, k)
    file_name = element.get("name")
    aside = f"image set aside with its {len(element)} shape(s)"
    if not file_name or not file_name.strip():
        issues.add("record_malformed", Severity.ERROR, f"<image> has no name; {aside}", name, where)
        return None
    subset = element.get("subset", task_subset)
    if resolve_inside(root, file_name) is None:
        issues.add(
            "path_escapes_root",
            Severity.ERROR,
            f"name {file_name!r} leaves the dataset root {root}; {aside}",
            name,
            where,
        )
        return None
    places = ([f"images/{subset.strip()}/{file_name}"] if subset and subset.strip() else []) + [
        f"images/{file_name}",
        file_name,
    ]
    candidates = [c for p in places if (c := resolve_inside(root, p)) is not None]
    candidates = list(dict.fromkeys(candidates))
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        looked = ", ".join(relative_name(c, root) for c in candidates)
        issues.add(
            "image_missing",
            Severity.ERROR,
            f"image file not found (looked for {looked}); {aside}",
            name,
            where,
            PurePosixPath(file_name.replace("\\", "/")).with_suffix("").as_posix(),
        )
        return None
    image_id = image_id_of(path, root)
    if image_id in images:
        issues.add(
            "image_id_duplicate",
            Severity.ERROR,
            f"image {image_id!r} ({relative_name(path, root)}) was already read from an "
            f"earlier <image>; {aside}",
            name,
            where,
            image_id,
        )
        return None
    info = probe_or_log(
        path, issues, relative_name(path, root), image_id, f"{aside} (in {name}, {where})"
    )
    if info is None:
        return None
    said = (element.get("width"), element.get("height"))
    stated_size_issue(said, info, "CVAT", issues, name, where, image_id)
    return _Image(image_id, path, info.width, info.height, subset)


def image_id_of(path: Path, root: Path) -> str:
    """The path under the root's ``images/`` (else under the root), without suffix."""
    images = root / "images"
    base = images if images in path.parents else root
    return path.relative_to(base).with_suffix("").as_posix()


# -- boxes -------------------------------------------------------------------------------


def _read_shapes(
    element: ET.Element,
    where: str,
    image: _Image,
    class_of: dict[str, int],
    name: str,
    issues: IssueLog,
) -> None:
    skipped: Counter = Counter()
    boxes = 0
    for shape in element:
        if shape.tag != "box":
            skipped[shape.tag] += 1
            continue
        boxes += 1
        read = _read_box(shape, f"{where}, box {boxes}", image, class_of, name, issues)
        if read is not None:
            image.boxes.append(read[0])
            image.classes.append(read[1])
            image.attributes.append(read[2])
    if skipped:
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
        issues.add(
            "shape_skipped",
            Severity.WARNING,
            f"{sum(skipped.values())} element(s) that are not boxes not read ({kinds}); "
            "yolops reads only <box>",
            name,
            where,
            image.id,
        )


def _read_box(
    box: ET.Element,
    where: str,
    image: _Image,
    class_of: dict[str, int],
    name: str,
    issues: IssueLog,
) -> tuple[tuple[float, float, float, float], int, dict] | None:
    def bad(code: str, message: str) -> None:
        issues.add(code, Severity.ERROR, f"{message}; set aside", name, where, image.id)

    label = box.get("label")
    if label not in class_of:
        bad("class_unknown", f"label {label!r} is not a box label ({', '.join(class_of)})")
        return None
    coords = []
    for key in (*COORDS, "rotation"):
        text = box.get(key, "0" if key == "rotation" else None)
        value = _float(text)
        if value is None:
            bad("box_malformed", f"<box> has no {key}" if text is None else f"{key} is {text!r}")
            return None
        coords.append(value)
    if coords[4] != 0:
        bad(
            "box_rotated", f"box is rotated by {coords[4]:g} degrees; yolops boxes are axis-aligned"
        )
        return None
    xyxy = as_stored(tuple(coords[:4]))
    if not check_box(xyxy, image.width, image.height, issues, name, where, image.id):
        return None
    attributes = _box_attributes(box, where, image.id, name, issues)
    return xyxy, class_of[label], attributes


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _box_attributes(
    box: ET.Element, where: str, image_id: str, name: str, issues: IssueLog
) -> dict:
    attributes = {}
    for child in box.findall("attribute"):
        key = child.get("name")
        if key and key != OCCLUDED:
            attributes[key] = attribute_value(child.text or "")
        else:
            issues.add(
                "attribute_invalid",
                Severity.WARNING,
                f"<attribute name={key!r}> is not read (no name, or CVAT's own {OCCLUDED})",
                name,
                where,
                image_id,
            )
    occluded = box.get(OCCLUDED, "0").strip()
    if occluded not in ("0", "1"):
        issues.add(
            "attribute_invalid",
            Severity.WARNING,
            f"{OCCLUDED} is {occluded!r}, not 0 or 1; read as 0",
            name,
            where,
            image_id,
        )
        occluded = "0"
    return {OCCLUDED: int(occluded), **attributes}


def attribute_value(text: str) -> bool | int | float | str:
    """A CVAT attribute's text as a value: ``true``/``false`` as booleans (CVAT's
    checkboxes), integers and other numbers as numbers, anything else as text."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if INTEGER.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def split_of_subset(subset: str | None) -> str | None:
    """The canonical split a CVAT subset names (Train -> train, Validation -> val...);
    None for no subset (``default``, empty); other names as they are."""
    if subset is None or subset.strip().lower() in NO_SUBSET:
        return None
    return SPLIT_OF.get(subset.strip().lower(), subset.strip())


def _splits(images: dict[str, _Image], name: str, issues: IssueLog) -> dict[str, list[str]]:
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for image in images.values():
        split = split_of_subset(image.subset)
        if split is not None:
            splits.setdefault(split, []).append(image.id)
    for split in splits:
        if split not in SPLITS:
            issues.add(
                "split_unknown",
                Severity.INFO,
                f"subset {split!r} ({len(splits[split])} image(s)) is not train, validation or "
                "test; kept as a split of that name",
                name,
            )
    return {s: ids for s, ids in splits.items() if ids}


# -- writing ---------------------------------------------------------------------------


def write(dataset: Dataset, out: Path) -> Path:
    """Write ``out/annotations.xml`` and the images under ``out/images/``; returns ``out``."""
    out = prepare_output(dataset, out, "cvat")
    split_of = {i: s for s, ids in dataset.splits.items() for i in ids}
    kinds = _attribute_kinds(dataset)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = VERSION
    root.append(meta_xml(dataset.name, len(dataset), dataset.class_names, kinds))
    for k, r in enumerate(dataset):
        file_name = f"{r.id}{r.path.suffix}"
        place_image(r.path, out / "images" / file_name)
        subset = SUBSET_OF.get(split_of.get(r.id, ""))
        root.append(image_xml(k, r, file_name, subset, dataset.class_names))
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(out / ANNOTATIONS_FILE, encoding="utf-8", xml_declaration=True)
    return out


def _attribute_kinds(dataset: Dataset) -> dict[str, str]:
    """Attribute name -> CVAT input type (``checkbox`` for booleans, else ``text``),
    for every attribute but ``occluded`` (an XML attribute of its own)."""
    kinds: dict[str, str] = {}
    for r in dataset:
        for key, values in r.attributes.items():
            if key != OCCLUDED and (values.dtype == bool or key not in kinds):
                kinds[key] = "checkbox" if values.dtype == bool else "text"
    return kinds


def meta_xml(
    name: str, size: int, class_names: tuple[str, ...], kinds: dict[str, str]
) -> ET.Element:
    """``<meta><task>``: the task's name, size and labels, each label with the
    attributes its boxes carry, as CVAT needs them to import the file."""
    meta = ET.Element("meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "name").text = name
    ET.SubElement(task, "size").text = str(size)
    ET.SubElement(task, "mode").text = "annotation"
    labels = ET.SubElement(task, "labels")
    for class_name in class_names:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = class_name
        ET.SubElement(label, "type").text = "rectangle"
        attributes = ET.SubElement(label, "attributes")
        for key, kind in kinds.items():
            attribute = ET.SubElement(attributes, "attribute")
            ET.SubElement(attribute, "name").text = key
            ET.SubElement(attribute, "mutable").text = "False"
            ET.SubElement(attribute, "input_type").text = kind
            ET.SubElement(attribute, "default_value").text = "false" if kind == "checkbox" else ""
            ET.SubElement(attribute, "values").text = "false\ntrue" if kind == "checkbox" else ""
    return meta


def image_xml(
    k: int, record: ImageRecord, file_name: str, subset: str | None, class_names: tuple[str, ...]
) -> ET.Element:
    """The ``<image>`` element for one image, its boxes inside."""
    image = ET.Element("image", id=str(k), name=file_name)
    if subset is not None:
        image.set("subset", subset)
    image.set("width", str(record.width))
    image.set("height", str(record.height))
    for j, (box, cls) in enumerate(zip(record.boxes, record.classes)):
        element = ET.SubElement(image, "box", label=class_names[int(cls)], source="manual")
        occluded = record.attributes.get(OCCLUDED)
        element.set(OCCLUDED, str(int(occluded[j])) if occluded is not None else "0")
        for key, v in zip(COORDS, box):
            element.set(key, format_number(float(v)))
        element.set("z_order", "0")
        for key, values in record.attributes.items():
            if key != OCCLUDED:
                ET.SubElement(element, "attribute", name=key).text = attribute_text(values[j])
    return image


def format_number(v: float) -> str:
    """An integer when the value is integral, else the shortest exact float."""
    return str(int(v)) if v.is_integer() else repr(v)


def attribute_text(value: object) -> str:
    """A value as CVAT writes attributes: ``true``/``false`` for booleans."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
