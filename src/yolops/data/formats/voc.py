"""Pascal VOC: ``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/{train,val,test}.txt``.

VOC coordinates are 1-based pixel indices, both ends included: a box over pixel
columns 0..9 (0-based) is ``xmin=1, xmax=10``. So x1 = xmin - 1, x2 = xmax (and y
alike), and the inverse when writing; a file box must have ``xmax > xmin`` and
``ymax > ymin``: ``xmin == xmax`` is what annotation tools write for a click without
a drag, reported as ``box_zero_area`` rather than read as a 1-pixel box. (So boxes at
most 1 px wide or high cannot be written as VOC; the reader reports them.)

An image's id is its annotation path under ``Annotations/`` without ``.xml``. Its file
is ``JPEGImages/<filename>`` (from the XML), else ``JPEGImages/<id>.<image suffix>``.
Class order: ``labels.txt`` or ``classes.txt`` at the root when present (the writer
writes ``labels.txt`` so that order round-trips), else the sorted names found.
``trainval.txt`` is derived and only checked against train + val. ``difficult`` and
``truncated`` are kept per box.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from yolops.data.formats._checks import (
    as_stored,
    check_box,
    link_escape,
    not_utf8,
    probe_or_log,
    relative_name,
    resolve_inside,
    stated_size_issue,
    text_lines,
)
from yolops.data.formats._write import place_image, prepare_output
from yolops.data.images import IMAGE_SUFFIXES
from yolops.data.record import SPLITS, DatasetParts, ImageRecord
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog, Severity

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

CLASS_FILES = ("labels.txt", "classes.txt")
COORDS = ("xmin", "ymin", "xmax", "ymax")
FLAGS = ("difficult", "truncated")


# -- coordinates ----------------------------------------------------------------------


def voc_box_to_xyxy(
    xmin: float, ymin: float, xmax: float, ymax: float
) -> tuple[float, float, float, float]:
    """1-based inclusive VOC pixel coordinates to xyxy pixels."""
    return (xmin - 1, ymin - 1, xmax, ymax)


def xyxy_to_voc_box(box) -> tuple[float, float, float, float]:
    """xyxy pixels to 1-based inclusive VOC coordinates (xmin, ymin, xmax, ymax)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1 + 1, y1 + 1, x2, y2)


def format_voc_number(v: float) -> str:
    """An integer when the value is integral, else the shortest exact float."""
    return str(int(v)) if v.is_integer() else repr(v)


# -- detection -----------------------------------------------------------------------------


def detect(path: Path) -> bool:
    return find_root(path) is not None


def find_root(path: Path) -> Path | None:
    """``path`` when it holds ``Annotations/*.xml``; else the one folder one or two
    levels down that does (``VOCdevkit/VOC2012``); None when none or several."""
    if not path.is_dir():
        return None
    if _has_xml(path / "Annotations"):
        return path
    level = [path]
    for _ in range(2):
        level = [
            d
            for p in level
            for d in sorted(p.iterdir())
            if d.is_dir() and not d.name.startswith(".")
        ]
        found = [d for d in level if _has_xml(d / "Annotations")]
        if found:
            return found[0] if len(found) == 1 else None
    return None


def _has_xml(folder: Path) -> bool:
    return folder.is_dir() and next(folder.glob("*.xml"), None) is not None


# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VocObject:
    """One ``<object>`` as written: coordinates still 1-based, not yet checked."""

    name: str
    coords: tuple[float, float, float, float]
    difficult: int
    truncated: int
    location: str


@dataclass(frozen=True)
class VocAnnotation:
    id: str
    xml: Path
    image: Path
    size: tuple[int, int] | None  # (width, height) as the XML says
    objects: tuple[VocObject, ...]


def read(path: Path, issues: IssueLog) -> DatasetParts:
    root = find_root(path)
    if root is None:
        raise DatasetFormatError(f"{path}: no Pascal VOC folder (Annotations/*.xml) found")
    root = root.absolute()
    parsed, seen = [], set()
    for xml in sorted((root / "Annotations").rglob("*.xml")):
        image_id = xml.relative_to(root / "Annotations").with_suffix("").as_posix()
        seen.add(image_id)
        escape = link_escape(xml, root)
        if escape is not None:
            issues.add(
                "path_escapes_root",
                Severity.ERROR,
                f"annotation file {escape}; not read, image set aside",
                relative_name(xml, root),
                None,
                image_id,
            )
            continue
        annotation = parse_annotation(xml, image_id, root, issues)
        if annotation is not None:
            parsed.append(annotation)
    class_names = _class_names(root, parsed)
    records = [r for a in parsed if (r := _record(a, root, class_names, issues)) is not None]
    loaded = {r.id for r in records}
    splits = _read_splits(root, seen, loaded, issues)
    return DatasetParts(records, tuple(class_names), splits, root.name, root)


def parse_annotation(
    xml: Path, image_id: str, root: Path, issues: IssueLog
) -> VocAnnotation | None:
    """One annotation file; None (after an error issue) when it cannot be used at all."""
    name = relative_name(xml, root)
    try:
        tree = ET.parse(xml).getroot()
    except ET.ParseError as e:
        line, column = e.position
        issues.add(
            "xml_malformed",
            Severity.ERROR,
            f"malformed XML at line {line}, column {column}: "
            f"{str(e).split(': line')[0]}; image set aside",
            name,
            f"line {line}",
            image_id,
        )
        return None
    if tree.tag != "annotation":
        issues.add(
            "xml_malformed",
            Severity.ERROR,
            f"root element is <{tree.tag}>, not <annotation>; image set aside",
            name,
            None,
            image_id,
        )
        return None
    image = _image_path(tree.findtext("filename"), image_id, root)
    escape = link_escape(image, root) if image is not None else None
    if image is None or escape is not None:
        why = (
            f"is {relative_name(image, root)}, which {escape}"
            if escape is not None
            else f"leaves the dataset root {root}"
        )
        issues.add(
            "path_escapes_root",
            Severity.ERROR,
            f"filename {tree.findtext('filename')!r} {why}; image set aside",
            name,
            "filename",
            image_id,
        )
        return None
    objects = []
    for k, obj in enumerate(tree.findall("object"), 1):
        parsed = _parse_object(obj, f"object {k}", name, image_id, issues)
        if parsed is not None:
            objects.append(parsed)
    return VocAnnotation(image_id, xml, image, _size(tree), tuple(objects))


def _image_path(filename: str | None, image_id: str, root: Path) -> Path | None:
    images = root / "JPEGImages"
    if filename and filename.strip():
        spelt = os.path.join("JPEGImages", filename.strip())
        path = resolve_inside(root, spelt)
        if path is None:
            # Inside by its spelling but not by its real path: a link, named as spelt.
            lexical = Path(os.path.normpath(os.path.join(root, spelt)))
            inside = lexical == root or root in lexical.parents
            return lexical if inside else None
        if path.is_file():
            return path
    # Many VOC-like sets leave <filename> out or get its suffix wrong; the id names the file.
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        candidate = images / f"{image_id}{suffix}"
        if candidate.is_file():
            return candidate
    return images / (filename.strip() if filename and filename.strip() else f"{image_id}.jpg")


def _size(tree: ET.Element) -> tuple[int, int] | None:
    try:
        return int(tree.findtext("size/width")), int(tree.findtext("size/height"))
    except (TypeError, ValueError):
        return None


def _parse_object(
    obj: ET.Element, where: str, name: str, image_id: str, issues: IssueLog
) -> VocObject | None:
    class_name = (obj.findtext("name") or "").strip()
    box = obj.find("bndbox")
    if box is None:
        issues.add(
            "box_malformed",
            Severity.ERROR,
            f"{class_name or 'object'} has no <bndbox>; set aside",
            name,
            where,
            image_id,
        )
        return None
    coords = []
    for tag in COORDS:
        text = box.findtext(tag)
        if text is None:
            issues.add(
                "box_malformed",
                Severity.ERROR,
                f"<bndbox> has no <{tag}>; set aside",
                name,
                where,
                image_id,
            )
            return None
        try:
            coords.append(float(text))
        except ValueError:
            issues.add(
                "box_malformed",
                Severity.ERROR,
                f"<{tag}> is {text.strip()!r}, not a number; set aside",
                name,
                where,
                image_id,
            )
            return None
    flags = [_flag(obj, tag, name, where, image_id, issues) for tag in FLAGS]
    return VocObject(class_name, tuple(coords), flags[0], flags[1], where)


def _flag(obj: ET.Element, tag: str, name: str, where: str, image_id: str, issues: IssueLog) -> int:
    text = (obj.findtext(tag) or "0").strip()
    if text in ("0", "1"):
        return int(text)
    issues.add(
        "attribute_invalid",
        Severity.WARNING,
        f"<{tag}> is {text!r}, not 0 or 1; read as 0",
        name,
        where,
        image_id,
    )
    return 0


def _class_names(root: Path, parsed: list[VocAnnotation]) -> tuple[str, ...]:
    for file_name in CLASS_FILES:
        file = root / file_name
        if file.is_file():
            if (escape := link_escape(file, root)) is not None:
                raise DatasetFormatError(f"{file}: the class list {escape}")
            try:
                lines = text_lines(file.read_bytes())
            except OSError as e:
                raise DatasetFormatError(
                    f"{file}: cannot read the class list: {e.strerror}"
                ) from None
            bad = [n for n, text in lines if text is None]
            if bad:
                raise DatasetFormatError(
                    f"{file}: the class list has lines that are not UTF-8 text (line "
                    f"{', '.join(map(str, bad[:5]))}); the class order cannot be read"
                )
            names = [text.strip() for _, text in lines if text.strip()]
            if len(set(names)) != len(names):
                raise DatasetFormatError(f"{file}: repeats a class name: {names}")
            return tuple(names)
    return tuple(sorted({o.name for a in parsed for o in a.objects if o.name}))


def _record(
    a: VocAnnotation, root: Path, class_names: tuple[str, ...], issues: IssueLog
) -> ImageRecord | None:
    xml_name = relative_name(a.xml, root)
    info = probe_or_log(
        a.image, issues, relative_name(a.image, root), a.id, f"image set aside with {xml_name}"
    )
    if info is None:
        return None
    if a.size is not None:
        stated_size_issue(a.size, info, "XML", issues, xml_name, "size", a.id)
    index = {n: i for i, n in enumerate(class_names)}
    boxes, classes, flags = [], [], []
    for o in a.objects:
        if o.name not in index:
            issues.add(
                "class_unknown",
                Severity.ERROR,
                f"class {o.name!r} is not in the class list ({', '.join(class_names)}); set aside",
                xml_name,
                o.location,
                a.id,
            )
            continue
        if not _check_file_box(o.coords, issues, xml_name, o.location, a.id):
            continue
        box = as_stored(voc_box_to_xyxy(*o.coords))
        if check_box(box, info.width, info.height, issues, xml_name, o.location, a.id):
            boxes.append(box)
            classes.append(index[o.name])
            flags.append((o.difficult, o.truncated))
    flags = np.array(flags, np.int64).reshape(-1, 2)
    attributes = {"difficult": flags[:, 0], "truncated": flags[:, 1]}
    return ImageRecord(a.id, a.image, info.width, info.height, boxes, classes, attributes)


def _check_file_box(
    coords: tuple[float, ...], issues: IssueLog, path: str, where: str, image_id: str
) -> bool:
    """VOC's own rule, before conversion: ``xmax > xmin`` and ``ymax > ymin``. Non-finite
    values pass here; check_box reports them on the converted box."""
    xmin, ymin, xmax, ymax = coords
    if xmax > xmin and ymax > ymin or not all(math.isfinite(v) for v in coords):
        return True
    text = ", ".join(f"{t}={v:g}" for t, v in zip(COORDS, coords))
    if xmax < xmin or ymax < ymin:
        code, problem = "box_inverted", "xmax < xmin or ymax < ymin"
    else:
        code, problem = "box_zero_area", "zero area (xmax == xmin or ymax == ymin)"
    issues.add(code, Severity.ERROR, f"box {text} has {problem}", path, where, image_id)
    return False


def _read_splits(
    root: Path, seen: set[str], loaded: set[str], issues: IssueLog
) -> dict[str, list[str]]:
    """Splits from ImageSets/Main; ids whose image was set aside are left out (their
    issue is logged already), ids with no annotation at all are errors."""
    folder = root / "ImageSets" / "Main"
    listed = {
        s: _split_ids(folder / f"{s}.txt", root, issues)
        for s in SPLITS + ("trainval",)
        if (folder / f"{s}.txt").is_file()
    }
    splits: dict[str, list[str]] = {}
    split_of: dict[str, str] = {}
    for split in SPLITS:
        if split not in listed:
            continue
        splits[split] = []
        name = relative_name(folder / f"{split}.txt", root)
        for line, image_id in listed[split]:
            if image_id not in seen:
                issues.add(
                    "split_unknown_id",
                    Severity.ERROR,
                    f"{image_id!r} has no annotation file",
                    name,
                    f"line {line}",
                    image_id,
                )
            elif image_id in split_of:
                issues.add(
                    "image_in_two_splits",
                    Severity.WARNING,
                    f"{image_id!r} is listed again (first in {split_of[image_id]}); "
                    f"kept in {split_of[image_id]} only",
                    name,
                    f"line {line}",
                    image_id,
                )
            elif image_id in loaded:
                split_of[image_id] = split
                splits[split].append(image_id)
    if "trainval" in listed and ("train" in listed or "val" in listed):
        _check_trainval(listed, root, folder, issues)
    return splits


def _split_ids(file: Path, root: Path, issues: IssueLog) -> list[tuple[int, str]]:
    """(line number, id) per non-empty line; the id is the first word. A line that is
    not UTF-8, or a list that cannot be read, is an error issue naming it."""
    name = relative_name(file, root)
    escape = link_escape(file, root)
    if escape is not None:
        issues.add("path_escapes_root", Severity.ERROR, f"split list {escape}; not read", name)
        return []
    try:
        lines = text_lines(file.read_bytes())
    except OSError as e:
        issues.add("split_unreadable", Severity.ERROR, f"cannot read the list: {e.strerror}", name)
        return []
    out = []
    for n, line in lines:
        if line is None:
            issues.add("split_unreadable", Severity.ERROR, not_utf8(n), name, f"line {n}")
            continue
        words = line.split()
        if words:
            out.append((n, words[0]))
    return out


def _check_trainval(listed: dict, root: Path, folder: Path, issues: IssueLog) -> None:
    trainval = {i for _, i in listed["trainval"]}
    union = {i for s in ("train", "val") for _, i in listed.get(s, [])}
    if trainval != union:
        issues.add(
            "split_mismatch",
            Severity.WARNING,
            f"trainval.txt differs from train.txt + val.txt ({len(trainval - union)} extra, "
            f"{len(union - trainval)} missing, e.g. {sorted(trainval ^ union)[:3]}); "
            "trainval.txt is ignored",
            relative_name(folder / "trainval.txt", root),
        )


# -- writing ---------------------------------------------------------------------------


def write(dataset: Dataset, out: Path) -> Path:
    """Write ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/`` (train, val, test
    and the derived trainval) and ``labels.txt`` (the class order) under ``out``."""
    out = prepare_output(dataset, out, "voc")
    for r in dataset:
        filename = f"{r.id}{r.path.suffix}"
        place_image(r.path, out / "JPEGImages" / filename)
        xml = out / "Annotations" / f"{r.id}.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        tree = ET.ElementTree(annotation_xml(r, filename, dataset.class_names))
        ET.indent(tree)
        tree.write(xml, encoding="utf-8")
    main = out / "ImageSets" / "Main"
    lists = {s: list(dataset.splits[s]) for s in SPLITS if s in dataset.splits}
    if "train" in lists or "val" in lists:
        lists["trainval"] = lists.get("train", []) + lists.get("val", [])
    for split, ids in lists.items():
        main.mkdir(parents=True, exist_ok=True)
        (main / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    (out / "labels.txt").write_text(
        "".join(f"{n}\n" for n in dataset.class_names), encoding="utf-8"
    )
    return out


def annotation_xml(record: ImageRecord, filename: str, class_names: tuple[str, ...]) -> ET.Element:
    """The ``<annotation>`` element for one image."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "JPEGImages"
    ET.SubElement(root, "filename").text = filename
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(record.width)
    ET.SubElement(size, "height").text = str(record.height)
    for k, (box, cls) in enumerate(zip(record.boxes, record.classes)):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = class_names[int(cls)]
        for flag in FLAGS:
            values = record.attributes.get(flag)
            ET.SubElement(obj, flag).text = str(int(values[k])) if values is not None else "0"
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, v in zip(COORDS, xyxy_to_voc_box(box)):
            ET.SubElement(bndbox, tag).text = format_voc_number(v)
    return root
