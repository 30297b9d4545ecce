"""COCO detection JSON: ``images``, ``annotations`` (``bbox`` = x, y, w, h pixels) and
``categories``.

A dataset is one JSON file, or a folder with ``annotations/*.json`` (only the
``instances*`` files when there are any, as in COCO's own release). A file's split is
the word train, val or test in its name (``instances_val2017.json``); yolops writes
images in no split to ``instances_unassigned.json``.

Categories keep their names; class index = rank of the category id, so arbitrary
(gappy) ids map to 0..N-1 in id order. An image's id is its ``file_name`` without
suffix (posix). Its file is looked up beside the JSON, in the JSON folder's parent,
in that parent's ``images/``, then in the root and the root's ``images/``; a
``file_name`` that leaves the dataset root is an error. ``iscrowd`` is kept per box,
as are the scalar values of an annotation's ``attributes`` dict (CVAT's convention,
which the writer uses for attributes other than iscrowd).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from yolops.data.formats._build import uniform_records
from yolops.data.formats._checks import (
    as_stored,
    check_box,
    parse_json,
    probe_or_log,
    relative_name,
    resolve_inside,
    stated_size_issue,
)
from yolops.data.formats._write import place_image, prepare_output
from yolops.data.record import SPLITS, DatasetParts
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog, Severity

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

UNASSIGNED = "unassigned"
SCALARS = (bool, int, float, str)


# -- coordinates ----------------------------------------------------------------------


def coco_bbox_to_xyxy(bbox) -> tuple[float, float, float, float]:
    """COCO ``[x, y, w, h]`` (top-left corner and size, pixels) to xyxy pixels."""
    x, y, w, h = (float(v) for v in bbox)
    return (x, y, x + w, y + h)


def xyxy_to_coco_bbox(box) -> list[float]:
    """xyxy pixels to COCO ``[x, y, w, h]``; integral values as ints (smaller JSON)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return [_number(v) for v in (x1, y1, x2 - x1, y2 - y1)]


def _number(v: float) -> int | float:
    return int(v) if v.is_integer() else v


# -- detection and files ------------------------------------------------------------------


def detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".json" and _looks_like_coco(path)
    return any(_looks_like_coco(f) for f in _annotation_files(path))


def _annotation_files(folder: Path) -> list[Path]:
    d = folder / "annotations"
    if not d.is_dir():
        return []
    # train, val, test first: an image found in two files stays in the first
    rank = {s: i for i, s in enumerate(SPLITS)}
    files = sorted(
        (p for p in d.glob("*.json") if p.is_file()),
        key=lambda p: (rank.get(split_of_file(p), len(rank)), p.name),
    )
    instances = [p for p in files if p.name.startswith("instances")]
    return instances or files


def _looks_like_coco(file: Path) -> bool:
    # An object (a Label Studio export is a list) with either key in the text, without
    # parsing: cheap even for a 400 MB file; read() parses it and names the line of
    # any syntax error, or the key that is missing.
    try:
        data = file.read_bytes()
    except OSError:
        return False
    starts_an_object = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"
    return starts_an_object and (b'"images"' in data or b'"annotations"' in data)


def split_of_file(file: Path) -> str | None:
    """train/val/test when exactly one of them is a word of the file name
    (``instances_val2017.json`` -> val); None otherwise (``unassigned``, ``trainval``)."""
    words = {re.sub(r"\d+$", "", w) for w in re.split(r"[_\-.]", file.stem.lower())}
    found = [s for s in SPLITS if s in words]
    return found[0] if len(found) == 1 else None


def _root_of(file: Path) -> Path:
    folder = file.parent.absolute()
    return folder.parent if folder.name == "annotations" else folder


def load_json(file: Path) -> dict:
    """Parse a COCO JSON and check its top level; problems raise DatasetFormatError."""
    try:
        data = parse_json(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetFormatError(
            f"{file}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    except UnicodeDecodeError as e:
        line = file.read_bytes()[: e.start].count(b"\n") + 1
        raise DatasetFormatError(
            f"{file}: not UTF-8 text at line {line} (byte {e.start}); JSON must be UTF-8"
        ) from None
    except OSError as e:
        raise DatasetFormatError(f"{file}: cannot read: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(f"{file}: a COCO file must hold a JSON object")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        keys = ", ".join(repr(k) for k in list(data)[:8]) or "none"
        raise DatasetFormatError(
            f"{file}: a COCO file needs the keys 'images', 'annotations' and 'categories' "
            f"(lists); {', '.join(repr(k) for k in missing)} missing (keys found: {keys})"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetFormatError(
                f"{file}: {key!r} must be a list, got {type(data.get(key)).__name__}"
            )
    return data


# -- reading ---------------------------------------------------------------------------


@dataclass
class _Image:
    """One image being read: its record fields and its boxes so far."""

    id: str
    path: Path
    width: int
    height: int
    boxes: list = field(default_factory=list)
    classes: list = field(default_factory=list)
    attributes: list[dict] = field(default_factory=list)


def read(path: Path, issues: IssueLog) -> DatasetParts:
    if path.is_file():
        files, root = [path.absolute()], _root_of(path)
    else:
        root = path.absolute()
        files = [f for f in _annotation_files(root) if _looks_like_coco(f)]
        if not files:
            raise DatasetFormatError(f"{path}: no COCO JSON under annotations/")
    parsed = [(f, load_json(f)) for f in files]
    class_names, class_of = _classes(parsed, root, issues)
    images: dict[str, _Image] = {}
    splits: dict[str, list[str]] = {}
    for file, data in parsed:
        loaded = _read_file(file, data, root, class_of, images, issues)
        split = split_of_file(file)
        if split is not None:
            splits.setdefault(split, []).extend(loaded)
    records = uniform_records(list(images.values()), always=("iscrowd",))
    splits = {s: splits[s] for s in SPLITS if s in splits}
    return DatasetParts(records, tuple(class_names), splits, root.name, root)


def _classes(
    parsed: list[tuple[Path, dict]], root: Path, issues: IssueLog
) -> tuple[tuple[str, ...], dict]:
    """Class names in order of category id, and category id -> class index. Files
    must agree on every id they share."""
    name_of: dict[int, str] = {}
    file_of: dict[int, Path] = {}
    for file, data in parsed:
        for k, cat in enumerate(data["categories"]):
            if (
                not isinstance(cat, dict)
                or type(cat.get("id")) is not int
                or not isinstance(cat.get("name"), str)
            ):
                raise DatasetFormatError(
                    f"{file}: category {k} needs an integer 'id' and a string 'name', got {cat!r}"
                )
            cid, name = cat["id"], cat["name"]
            if cid in name_of and name_of[cid] != name:
                raise DatasetFormatError(
                    f"{file}: category id {cid} is {name!r} here "
                    f"but {name_of[cid]!r} in {file_of[cid]}"
                )
            name_of[cid], file_of[cid] = name, file
    names: list[str] = []
    class_of = {}
    for cid in sorted(name_of):
        name = name_of[cid]
        if name in names:
            issues.add(
                "class_name_duplicate",
                Severity.WARNING,
                f"category ids {[c for c in name_of if name_of[c] == name]} share the name "
                f"{name!r}; read as one class",
                relative_name(file_of[cid], root),
                f"category id {cid}",
            )
        else:
            names.append(name)
        class_of[cid] = names.index(name)
    return tuple(names), class_of


def _read_file(
    file: Path,
    data: dict,
    root: Path,
    class_of: dict[int, int],
    images: dict[str, _Image],
    issues: IssueLog,
) -> list[str]:
    """Add the file's images (to ``images``, keyed by our id) and their boxes; returns
    the ids loaded from this file, in file order."""
    name = relative_name(file, root)
    box_count = Counter(
        a.get("image_id")
        for a in data["annotations"]
        if isinstance(a, dict) and _key(a.get("image_id"))
    )
    folders = search_folders(file.parent.absolute(), root)
    by_coco_id: dict = {}
    set_aside: set = set()
    entries_of: dict = {}
    for entry in data["images"]:
        coco_id = entry.get("id") if isinstance(entry, dict) else None
        if _key(coco_id):
            entries_of.setdefault(coco_id, []).append(entry)
    for k, entry in enumerate(data["images"]):
        coco_id = entry.get("id") if isinstance(entry, dict) else None
        if _key(coco_id) and len(entries_of[coco_id]) > 1:
            _refuse_shared_id(name, k, entry, entries_of[coco_id], box_count, issues)
            set_aside.add(coco_id)
            continue
        image = _read_image(folders, name, root, k, entry, images, box_count, issues)
        if image is None:
            if _key(coco_id):
                set_aside.add(coco_id)
            continue
        by_coco_id[coco_id] = image
        images[image.id] = image
    for k, ann in enumerate(data["annotations"]):
        _read_annotation(name, k, ann, by_coco_id, set_aside, class_of, issues)
    return [image.id for image in by_coco_id.values()]


def _refuse_shared_id(
    name: str, k: int, entry: dict, entries: list, box_count: Counter, issues: IssueLog
) -> None:
    """An image id that several image entries share: the annotations naming it cannot be
    told apart, so none of them is put on any image, and every entry is set aside."""
    coco_id = entry["id"]
    files = ", ".join(repr(e.get("file_name")) for e in entries[:4])
    more = f" and {len(entries) - 4} more" if len(entries) > 4 else ""
    issues.add(
        "image_id_duplicate",
        Severity.ERROR,
        f"image id {coco_id} is shared by {len(entries)} image entries ({files}{more}): "
        f"its {box_count[coco_id]} annotation(s) cannot be told apart; this entry "
        f"({entry.get('file_name')!r}) is set aside, as are the others and those annotations",
        name,
        f"image id {coco_id}",
    )


def _single_value(value: object) -> bool:
    """A scalar an attribute array can hold: no list, no integer beyond 64 bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return isinstance(value, SCALARS)


def _key(value: object) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _read_image(
    folders: list[str],
    name: str,
    root: Path,
    k: int,
    entry: object,
    images: dict[str, _Image],
    box_count: Counter,
    issues: IssueLog,
) -> _Image | None:
    if (
        not isinstance(entry, dict)
        or not _key(entry.get("id"))
        or not isinstance(entry.get("file_name"), str)
    ):
        issues.add(
            "record_malformed",
            Severity.ERROR,
            f"image entry needs an 'id' and a string 'file_name', got {str(entry)[:120]}; "
            "set aside with any annotations naming it",
            name,
            f"images[{k}]",
        )
        return None
    coco_id, file_name = entry["id"], entry["file_name"]
    where = f"image id {coco_id}"
    aside = f"image set aside with its {box_count[coco_id]} annotation(s)"
    candidates = image_candidates(file_name, folders, root)
    if not candidates:
        issues.add(
            "path_escapes_root",
            Severity.ERROR,
            f"file_name {file_name!r} leaves the dataset root {root}; {aside}",
            name,
            where,
        )
        return None
    image_id = PurePosixPath(file_name.replace("\\", "/")).with_suffix("").as_posix()
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        looked = ", ".join(relative_name(c, root) for c in candidates)
        issues.add(
            "image_missing",
            Severity.ERROR,
            f"image file not found (looked for {looked}); {aside}",
            name,
            where,
            image_id,
        )
        return None
    if image_id in images:
        same = images[image_id].path == path
        issues.add(
            "image_in_two_splits" if same else "image_id_duplicate",
            Severity.WARNING if same else Severity.ERROR,
            f"image {image_id!r} was already read from an earlier entry or file"
            + (f" ({relative_name(images[image_id].path, root)})" if not same else "")
            + f"; this entry is not read, nor its {box_count[coco_id]} annotation(s)",
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
    said = (entry.get("width"), entry.get("height"))
    stated_size_issue(said, info, "COCO", issues, name, where, image_id)
    return _Image(image_id, path, info.width, info.height)


def search_folders(folder: Path, root: Path) -> list[str]:
    """Where an image named in a JSON in ``folder`` may be, relative to ``root``, in
    order: beside the JSON, in its parent, in the parent's ``images/``, in ``root``
    and its ``images/`` (only folders inside ``root``)."""
    bases = [folder, folder.parent, folder.parent / "images", root, root / "images"]
    inside = (b for b in bases if b == root or root in b.parents)
    return list(dict.fromkeys(os.path.relpath(b, root) for b in inside))


def image_candidates(file_name: str, folders: list[str], root: Path) -> list[Path]:
    """``file_name`` in each of ``folders`` (see :func:`search_folders`) where that
    stays inside ``root``; empty when the name leaves the root from everywhere."""
    candidates = (resolve_inside(root, os.path.join(f, file_name)) for f in folders)
    return list(dict.fromkeys(c for c in candidates if c is not None))


def _read_annotation(
    name: str,
    k: int,
    ann: object,
    by_coco_id: dict,
    set_aside: set,
    class_of: dict[int, int],
    issues: IssueLog,
) -> None:
    if not isinstance(ann, dict):
        issues.add(
            "box_malformed",
            Severity.ERROR,
            f"annotation is not an object: {str(ann)[:120]}",
            name,
            f"annotations[{k}]",
        )
        return
    where = f"annotation id {ann['id']}" if "id" in ann else f"annotations[{k}]"
    coco_id = ann.get("image_id")
    if _key(coco_id) and coco_id in set_aside:
        return  # its image's issue already counts this annotation
    image = by_coco_id.get(coco_id) if _key(coco_id) else None
    if image is None:
        issues.add(
            "annotation_image_unknown",
            Severity.ERROR,
            f"image_id {coco_id!r} names no image; set aside",
            name,
            where,
        )
        return
    cid = ann.get("category_id")
    if not _key(cid) or cid not in class_of:
        issues.add(
            "class_unknown",
            Severity.ERROR,
            f"category_id {cid!r} names no category; set aside",
            name,
            where,
            image.id,
        )
        return
    bbox = ann.get("bbox")
    if not (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    ):
        issues.add(
            "box_malformed",
            Severity.ERROR,
            f"bbox must be 4 numbers [x, y, w, h], got {repr(bbox)[:120]}; set aside",
            name,
            where,
            image.id,
        )
        return
    box = as_stored(coco_bbox_to_xyxy(bbox))
    if not check_box(box, image.width, image.height, issues, name, where, image.id):
        return
    iscrowd = ann.get("iscrowd", 0)
    if iscrowd not in (0, 1):
        issues.add(
            "attribute_invalid",
            Severity.WARNING,
            f"iscrowd is {iscrowd!r}, not 0 or 1; read as 0",
            name,
            where,
            image.id,
        )
        iscrowd = 0
    attributes = {"iscrowd": int(iscrowd)}
    extra = ann.get("attributes")
    if isinstance(extra, dict):
        attributes.update({k: v for k, v in extra.items() if _single_value(v) and k != "iscrowd"})
        skipped = sorted(k for k, v in extra.items() if not _single_value(v))
        if skipped:
            issues.add(
                "attribute_ignored",
                Severity.INFO,
                f"attributes {skipped} are not single values (a bool, a number a 64-bit "
                "array holds, or a string); not read",
                name,
                where,
                image.id,
            )
    image.boxes.append(box)
    image.classes.append(class_of[cid])
    image.attributes.append(attributes)


# -- writing ---------------------------------------------------------------------------


def write(dataset: Dataset, out: Path) -> Path:
    """Write ``out/annotations/instances_<split>.json`` (and ``instances_unassigned.json``
    for images in no split) and the images under ``out/images/``; returns ``out``."""
    out = prepare_output(dataset, out, "coco")
    categories = [
        {"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(dataset.class_names)
    ]
    groups = {s: list(dataset.splits[s]) for s in SPLITS if s in dataset.splits}
    assigned = {i for ids in groups.values() for i in ids}
    unassigned = [r.id for r in dataset if r.id not in assigned]
    if unassigned or not groups:
        groups[UNASSIGNED] = unassigned
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    next_image, next_box = 1, 1
    for split, ids in groups.items():
        images, annotations = [], []
        for image_id in ids:
            r = dataset[image_id]
            file_name = f"{r.id}{r.path.suffix}"
            place_image(r.path, out / "images" / file_name)
            images.append(
                {"id": next_image, "file_name": file_name, "width": r.width, "height": r.height}
            )
            for k, (box, cls) in enumerate(zip(r.boxes, r.classes)):
                annotations.append(
                    _annotation(next_box, next_image, box, int(cls) + 1, r.attributes, k)
                )
                next_box += 1
            next_image += 1
        doc = {
            "info": {"description": f"{dataset.name} ({split}), written by yolops"},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        (out / "annotations" / f"instances_{split}.json").write_text(
            json.dumps(doc), encoding="utf-8"
        )
    return out


def _annotation(
    ann_id: int, image_id: int, box, category_id: int, attributes: dict, k: int
) -> dict:
    bbox = xyxy_to_coco_bbox(box)
    ann = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        "area": _number(float(bbox[2]) * float(bbox[3])),
        "iscrowd": int(attributes["iscrowd"][k]) if "iscrowd" in attributes else 0,
    }
    extra = {a: v[k].item() for a, v in attributes.items() if a != "iscrowd"}
    if extra:
        ann["attributes"] = extra
    return ann
