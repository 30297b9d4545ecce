"""Ultralytics-style YOLO datasets: a data YAML, ``images/<split>/`` and ``labels/<split>/``.

The YAML names the dataset root (``path``), the splits (``train``, ``val``, ``test``:
an image folder, a .txt list of image paths or one image, or a list of those) and the
classes (``names``: a list, or a dict ``{id: name}`` with ids 0..N-1; ``nc`` optional).
yolops also writes and reads ``unassigned``: images that belong to no split. Files
load as Ultralytics and Roboflow write them, with no edits:

- The root. No ``path``: the YAML's folder (as in Ultralytics). An absolute ``path``:
  that folder. A relative ``path`` is tried against the working directory first (as
  Ultralytics does; it then tries its own datasets folder, which yolops has not) and
  then against the YAML's folder (what yolops did before, so that a YAML with
  ``path: .`` loads from anywhere). When both folders exist, the first holding more
  of the split paths wins and a note (``dataset_root``) names the one used; when
  neither exists, loading fails.
- Split paths are relative to the root. A single split path (not a list) that starts
  with ``../`` and so leaves the root is read without that ``../`` when that exists,
  as Ultralytics does: the layout Roboflow exports, a ``data.yaml`` with ``train:
  ../train/images``, ``val: ../valid/images`` beside ``train/images``,
  ``train/labels``, ``valid/...``, loads as it is (a note, ``split_path_stripped``).
  A split path that names nothing is an error; for ``test`` a warning, as Ultralytics
  needs it only to evaluate on it (a Roboflow export names ``test`` even without one).
- A .txt list holds one image path a line, relative to the list's folder
  (``./images/x.jpg``, as in Ultralytics; Ultralytics reads a line without ``./``
  from the working directory, yolops from the list's folder too) or absolute.

Each image has a label file: its path with the last ``images`` folder swapped for
``labels`` and the suffix for ``.txt``; one line ``class cx cy w h`` per box, the
centre and size normalised by the image width and height.

An image's id is its path relative to its split's image folder, without suffix
(posix); when two splits hold the same name, the later image's id is its path under
the root instead. Nothing outside the root is read: a split or a listed image that
leaves it is an error issue, and a YAML that yields no image at all (every split
refused, missing or empty) is a :class:`DatasetFormatError` naming why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

import numpy as np
import yaml

from yolops import safe_yaml
from yolops.data.formats._checks import (
    as_stored,
    check_box,
    link_escape,
    not_utf8,
    probe_or_log,
    relative_name,
    resolve_inside,
    text_lines,
    walk_images,
)
from yolops.data.formats._write import place_image, prepare_output
from yolops.data.images import is_image_name
from yolops.data.record import SPLITS, DatasetParts, ImageRecord
from yolops.errors import DatasetFormatError
from yolops.issues import IssueLog, Severity

if TYPE_CHECKING:  # writers take a Dataset; only its type is named here
    from yolops.data.dataset import Dataset

# yolops' own key for images in no split; other tools ignore it.
UNASSIGNED = "unassigned"
YAML_SPLITS = SPLITS + (UNASSIGNED,)
YAML_SUFFIXES = (".yaml", ".yml")
# Eight decimals of a normalised coordinate: 1e-8 of a 16k-pixel image is 2e-4 px.
LINE_FORMAT = "{cls} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}"


# -- coordinates ----------------------------------------------------------------------


def yolo_line_to_xyxy(
    cx: float, cy: float, w: float, h: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """Normalised centre and size (fractions of the image) to xyxy pixels."""
    return (
        (cx - w / 2) * width,
        (cy - h / 2) * height,
        (cx + w / 2) * width,
        (cy + h / 2) * height,
    )


def xyxy_to_yolo_line(box, class_id: int, width: int, height: int) -> str:
    """One label line ``class cx cy w h`` (normalised) for an xyxy pixel box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return LINE_FORMAT.format(
        cls=int(class_id),
        cx=(x1 + x2) / 2 / width,
        cy=(y1 + y2) / 2 / height,
        w=(x2 - x1) / width,
        h=(y2 - y1) / height,
    )


# -- the data YAML ----------------------------------------------------------------------


@dataclass(frozen=True)
class DataYaml:
    """What a data YAML says: ``entries`` maps a split (or ``unassigned``) to the
    folders and .txt lists named for it, as written (relative to ``root``);
    ``listed`` holds the keys given as a YAML list rather than one path."""

    file: Path
    root: Path
    entries: dict[str, tuple[str, ...]]
    class_names: tuple[str, ...]
    listed: frozenset[str] = frozenset()


def detect(path: Path) -> bool:
    return find_yaml(path) is not None


def find_yaml(path: Path) -> Path | None:
    """The data YAML ``path`` is or holds: a file with ``names`` (or with split keys
    and no ``names``, so that reading it says what is missing), or in a folder
    ``data.yaml`` (preferred) or the only YAML with ``names``."""
    if path.is_file():
        return path if path.suffix.lower() in YAML_SUFFIXES and _has_names(path, True) else None
    if not path.is_dir():
        return None
    yamls = sorted(p for p in path.iterdir() if p.suffix.lower() in YAML_SUFFIXES and p.is_file())
    for p in yamls:
        # A broken data.yaml still counts, so that read() reports where it breaks.
        if p.stem == "data" and _has_names(p, True):
            return p
    named = [p for p in yamls if _has_names(p, False)]
    return named[0] if len(named) == 1 else None


def _has_names(path: Path, if_malformed: bool) -> bool:
    """Whether ``path`` is a data YAML: a mapping with ``names``; with ``if_malformed``
    (a file named as one) also a broken YAML, or a mapping with a split key but no
    ``names``, so that read() reports what is wrong rather than "no dataset"."""
    try:
        data = safe_yaml.load(path.read_bytes())
    except yaml.YAMLError:
        return if_malformed
    except OSError:
        return False
    if not isinstance(data, dict):
        return False
    return "names" in data or (if_malformed and any(k in data for k in YAML_SPLITS))


def read_yaml(file: Path, issues: IssueLog) -> DataYaml:
    """Parse and check a data YAML; structural problems raise DatasetFormatError."""
    data = _load_mapping(file)
    names = _class_names(data["names"], file)
    nc = data.get("nc")
    if nc is not None and nc != len(names):
        issues.add(
            "nc_mismatch",
            Severity.ERROR,
            f"nc is {nc} but names lists {len(names)} classes; using the {len(names)} names",
            file.name,
            "nc",
        )
    entries, listed = _split_entries(data, file)
    root = _dataset_root(data.get("path"), file, entries, listed, issues)
    return DataYaml(file.absolute(), root, entries, names, listed)


def _load_mapping(file: Path) -> dict:
    try:
        # Bytes: PyYAML decodes them (UTF-8/16 by BOM) and names the line of a bad byte.
        data = safe_yaml.load(file.read_bytes())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise DatasetFormatError(f"{file}: malformed YAML{where}: {problem}") from None
    except OSError as e:
        raise DatasetFormatError(f"{file}: cannot read the data YAML: {e.strerror}") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(
            f"{file}: a YOLO data YAML must be a mapping (with 'names' and the splits), "
            f"got {type(data).__name__}"
        )
    if "names" not in data:
        keys = ", ".join(repr(str(k)) for k in list(data)[:8]) or "none"
        raise DatasetFormatError(
            f"{file}: the data YAML has no 'names' (the class list, e.g. names: [cat, dog]); "
            f"keys found: {keys}"
        )
    return data


def _split_entries(data: dict, file: Path) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """The split paths per key, and the keys given as a list (see :class:`DataYaml`)."""
    entries, listed = {}, set()
    for key in YAML_SPLITS:
        value = data.get(key)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise DatasetFormatError(
                f"{file}: {key!r} must be a path or a list of paths, got {value!r}"
            )
        entries[key] = tuple(values)
        if isinstance(value, list):
            listed.add(key)
    return entries, frozenset(listed)


def _dataset_root(
    base: object,
    file: Path,
    entries: dict[str, tuple[str, ...]],
    listed: frozenset[str],
    issues: IssueLog,
) -> Path:
    """The folder ``path`` names, tried in the order the module docstring gives."""
    folder = Path(os.path.abspath(file.parent))
    if base is None or base == "":
        return folder
    if isinstance(base, (dict, list, bool)):
        raise DatasetFormatError(f"{file}: 'path' must be a folder path, got {base!r}")
    base = str(base)
    if os.path.isabs(base):
        tried = {Path(os.path.normpath(base)): "absolute"}
    else:
        # setdefault: when the working directory is the YAML's folder, one candidate.
        tried = {Path(os.path.abspath(base)): "from the working directory"}
        tried.setdefault(Path(os.path.normpath(folder / base)), "from the YAML's folder")
    found = [root for root in tried if root.is_dir()]
    if not found:
        where = " nor ".join(f"{root} ({how})" for root, how in tried.items())
        raise DatasetFormatError(f"{file}: 'path' {base!r} names no folder: neither {where}")
    if len(found) == 1:
        return found[0]

    def held(root: Path) -> int:
        return sum(
            target is not None and target.exists()
            for key, values in entries.items()
            for target, _ in (_resolve_entry(root, v, key not in listed) for v in values)
        )

    root = max(found, key=held)  # the first of equals: the working directory's
    other = next(r for r in found if r != root)
    issues.add(
        "dataset_root",
        Severity.INFO,
        f"path {base!r} read as {root} ({tried[root]}); {other} ({tried[other]}) exists "
        f"too and holds {held(other)} of the split paths, against {held(root)}",
        relative_name(file, root),
        "path",
    )
    return root


def _class_names(names: object, file: Path) -> tuple[str, ...]:
    if isinstance(names, dict):
        ids = list(names)
        if not all(type(k) is int for k in ids) or sorted(ids) != list(range(len(ids))):
            raise DatasetFormatError(f"{file}: 'names' ids must be 0..{len(ids) - 1}, got {ids}")
        out = tuple(str(names[k]) for k in range(len(ids)))
    elif isinstance(names, list):
        out = tuple(str(n) for n in names)
    else:
        raise DatasetFormatError(
            f"{file}: 'names' must be a list or a dict {{id: name}}, got {names!r}"
        )
    if len(set(out)) != len(out):
        raise DatasetFormatError(f"{file}: 'names' repeats a class name: {list(out)}")
    return out


# -- finding images -----------------------------------------------------------------------


def _resolve_entry(root: Path, entry: str, single: bool) -> tuple[Path | None, bool]:
    """Where a split path points inside ``root`` (None when it leaves it), and whether
    that is the path without its leading ``../``: Ultralytics reads ``root/x`` for a
    single split path ``../x`` when ``root/../x`` does not exist, and Roboflow's
    exports rely on it. A path leaving the root is never read, existing or not."""
    target = resolve_inside(root, entry)
    if target is not None:
        return target, False
    if single and entry.startswith("../"):
        stripped = resolve_inside(root, entry[3:])
        if stripped is not None and stripped.exists():
            return stripped, True
    return None, False


def _split_target(split: str, entry: str, config: DataYaml, issues: IssueLog) -> Path | None:
    """The resolved split path, or None after logging why it is not read."""
    single = split not in config.listed
    target, stripped = _resolve_entry(config.root, entry, single)
    if target is None:
        _report_refused(split, entry, single, config, issues)
    elif stripped:
        _report_stripped(split, entry, target, config, issues)
    return target


def _report_refused(
    split: str, entry: str, single: bool, config: DataYaml, issues: IssueLog
) -> None:
    """A split path leaving the root: an error; but a ``../x`` with nothing at either
    place is a missing split (Roboflow names test/ whether or not it exported one)."""
    outside = Path(os.path.normpath(config.root / entry))
    dotdot = single and entry.startswith("../")
    inside = resolve_inside(config.root, entry[3:]) if dotdot else None
    if inside is not None and not outside.exists():
        why = f"does not exist: neither {outside} nor {inside}"
        _split_missing(split, entry, why, config, issues)
        return
    tried = f", and {entry[3:]!r} (tried as Ultralytics does) is not inside it" if dotdot else ""
    if outside == config.root or config.root in outside.parents:  # spelt inside: a link
        issues.add(
            "path_escapes_root",
            Severity.ERROR,
            f"{split} path {entry!r} {link_escape(outside, config.root)}; split not read",
            relative_name(config.file, config.root),
            split,
        )
        return
    issues.add(
        "path_escapes_root",
        Severity.ERROR,
        f"{split} path {entry!r} leaves the dataset root {config.root}{tried}; "
        "yolops reads nothing outside the root, split not read",
        relative_name(config.file, config.root),
        split,
    )


def _report_stripped(
    split: str, entry: str, target: Path, config: DataYaml, issues: IssueLog
) -> None:
    """A ``../x`` read as ``x``: a note, or a warning when ``../x`` exists outside the
    root, which Ultralytics would have read instead."""
    outside = Path(os.path.normpath(config.root / entry))
    read = relative_name(target, config.root)
    yaml_name = relative_name(config.file, config.root)
    if outside.exists():
        issues.add(
            "split_path_outside_root",
            Severity.WARNING,
            f"{split} path {entry!r} is {outside}, outside the dataset root, which "
            f"Ultralytics would read; yolops reads only inside the root: read {read}",
            yaml_name,
            split,
        )
        return
    issues.add(
        "split_path_stripped",
        Severity.INFO,
        f"{split} path {entry!r} leaves the dataset root; read {read} inside it, "
        "as Ultralytics does (the layout Roboflow exports)",
        yaml_name,
        split,
    )


def _target_images(
    split: str, entry: str, target: Path, config: DataYaml, issues: IssueLog
) -> list[tuple[str, Path]]:
    """(id, image path) for one split path: a folder, searched recursively, a .txt
    list whose lines are image paths relative to the list's folder, or one image."""
    yaml_name = relative_name(config.file, config.root)
    if target.is_dir():
        images = walk_images(target, config.root, issues, is_image_name, "image")
        found = sorted((_image_id(p, target), p) for p in images)
    elif target.is_file() and target.suffix.lower() == ".txt":
        found = _listed_images(target, config, issues)
    elif target.is_file() and is_image_name(target):
        return [(_image_id(target, target.parent), target)]
    elif target.exists():
        issues.add(
            "split_invalid",
            Severity.ERROR,
            f"{split} path {entry!r} ({target}) is not a folder, a .txt list or an image; "
            "split not read",
            yaml_name,
            split,
        )
        return []
    else:
        _split_missing(split, entry, f"does not exist ({target})", config, issues)
        return []
    if not found:
        issues.add(
            "split_empty",
            Severity.INFO,
            f"{split} path {entry!r} ({target}) gave no images",
            yaml_name,
            split,
        )
    return found


def _split_missing(split: str, entry: str, why: str, config: DataYaml, issues: IssueLog) -> None:
    """A split path naming nothing: an error, but a warning for ``test``, which
    Ultralytics too needs only to evaluate on it."""
    issues.add(
        "split_missing",
        Severity.WARNING if split == "test" else Severity.ERROR,
        f"{split} path {entry!r} {why}; split not read",
        relative_name(config.file, config.root),
        split,
    )


def _listed_images(listing: Path, config: DataYaml, issues: IssueLog) -> list[tuple[str, Path]]:
    name = relative_name(listing, config.root)
    base = os.path.relpath(listing.parent, config.root)
    try:
        lines = text_lines(listing.read_bytes())
    except OSError as e:
        issues.add("split_unreadable", Severity.ERROR, f"cannot read the list: {e.strerror}", name)
        return []
    images = []
    for n, line in lines:
        if line is None:
            issues.add("split_unreadable", Severity.ERROR, not_utf8(n), name, f"line {n}")
            continue
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        spelt = Path(os.path.normpath(os.path.join(config.root, base, line)))
        image = resolve_inside(config.root, os.path.join(base, line))
        if image is None:
            inside = spelt == config.root or config.root in spelt.parents
            why = link_escape(spelt, config.root) if inside else None
            issues.add(
                "path_escapes_root",
                Severity.ERROR,
                f"image path {line!r} "
                + (why if why else f"leaves the dataset root {config.root}")
                + "; not read",
                name,
                f"line {n}",
            )
            continue
        images.append(image)
    # Ids are relative to the folder all listed images share, as for a split folder.
    common = Path(os.path.commonpath([p.parent for p in images])) if images else listing.parent
    return [(_image_id(p, common), p) for p in images]


def _image_id(image: Path, folder: Path) -> str:
    return image.relative_to(folder).with_suffix("").as_posix()


def label_path(image: Path, root: Path) -> Path:
    """Where an image's label file is: see :func:`label_folder`, suffix ``.txt``."""
    return label_folder(image.parent, root) / f"{image.stem}.txt"


def label_folder(folder: Path, root: Path) -> Path:
    """The labels folder for an image folder: its last ``images`` part (counting
    inside the root only) swapped for ``labels``; the folder itself when it has none."""
    parts = list(PurePath(os.path.relpath(folder, root)).parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return root.joinpath(*parts)


# -- reading ---------------------------------------------------------------------------


def read(path: Path, issues: IssueLog) -> DatasetParts:
    file = find_yaml(path)
    if file is None:
        raise DatasetFormatError(f"{path}: no YOLO data YAML with 'names' found")
    config = read_yaml(file, issues)
    records = []
    splits: dict[str, list[str]] = {s: [] for s in SPLITS if s in config.entries}
    for split, image_id, image in _unique_images(config, issues):
        record = _read_record(image_id, image, config, issues)
        if record is None:
            continue
        records.append(record)
        if split in splits:
            splits[split].append(image_id)
    if not records:
        raise DatasetFormatError(_no_images(config, issues))
    return DatasetParts(records, tuple(config.class_names), splits, config.root.name, config.root)


def _no_images(config: DataYaml, issues: IssueLog, shown: int = 10) -> str:
    """Why a YAML gave no image, for the error: a dataset of none is no dataset, and
    "0 images" must not pass for a load that worked."""
    head = f"{config.file}: no images loaded from the dataset root {config.root}"
    if not config.entries:
        return f"{head}: the YAML names no split ({', '.join(YAML_SPLITS)})"
    found = list(issues)
    lines = [f"  - {i}" for i in found[:shown]]
    if len(found) > shown:
        lines.append(f"  … and {len(found) - shown} more")
    return "\n".join([f"{head}:", *lines])


def _unique_images(config: DataYaml, issues: IssueLog) -> list[tuple[str, str, Path]]:
    """(split, id, path) for every image the YAML names, each file and id once:
    an image named by two splits stays in the first (warning); a file whose id is
    taken gets its path under the root as id (info)."""
    split_of: dict[Path, str] = {}
    path_of: dict[str, Path] = {}
    out = []
    for split, entries in config.entries.items():
        for entry in entries:
            target = _split_target(split, entry, config, issues)
            if target is None:
                continue
            found = _target_images(split, entry, target, config, issues)
            for image_id, image in found:
                name = relative_name(image, config.root)
                if image in split_of:
                    issues.add(
                        "image_in_two_splits",
                        Severity.WARNING,
                        f"image is listed for {split_of[image]} and again for {split}; "
                        f"kept in {split_of[image]} only",
                        name,
                        None,
                        image_id,
                    )
                    continue
                if image_id in path_of:
                    # Splits may reuse file names (images/train/1.jpg, images/val/1.jpg);
                    # the path under the root tells them apart.
                    taken, image_id = image_id, Path(name).with_suffix("").as_posix()
                    issues.add(
                        "image_id_qualified",
                        Severity.INFO,
                        f"id {taken!r} is taken by {relative_name(path_of[taken], config.root)}; "
                        f"this image gets the id {image_id!r}",
                        name,
                        None,
                        image_id,
                    )
                    if image_id in path_of:
                        issues.add(
                            "image_id_duplicate",
                            Severity.ERROR,
                            f"image id {image_id!r} is taken too; image set aside",
                            name,
                            None,
                            image_id,
                        )
                        continue
                split_of[image] = split
                path_of[image_id] = image
                out.append((split, image_id, image))
            if target.is_dir():
                _report_orphan_labels(target, {i for i, _ in found}, config.root, issues)
    return out


def _report_orphan_labels(folder: Path, ids: set[str], root: Path, issues: IssueLog) -> None:
    """Warn about label files in the folder mirroring ``folder`` that match no image."""
    labels = label_folder(folder, root)
    if not labels.is_dir():
        return
    # A label linked out of the root is reported when its image's record is read; one
    # that matches no image is reported here.
    links = IssueLog()
    for label in walk_images(labels, root, links, lambda f: f.endswith(".txt"), "label"):
        image_id = label.relative_to(labels).with_suffix("").as_posix()
        if label.name != "classes.txt" and image_id not in ids:
            issues.add(
                "label_orphan",
                Severity.WARNING,
                f"label file has no image in {relative_name(folder, root)}; not read",
                relative_name(label, root),
            )
    for issue in links:
        label = root / issue.path if issue.path else None
        if label is None or label.suffix != ".txt":
            issues.extend([issue])  # a linked folder: no image reports it
            continue
        if label.relative_to(labels).with_suffix("").as_posix() not in ids:
            issues.extend([issue])


def _read_record(
    image_id: str, image: Path, config: DataYaml, issues: IssueLog
) -> ImageRecord | None:
    name = relative_name(image, config.root)
    info = probe_or_log(image, issues, name, image_id, "image set aside with its labels")
    if info is None:
        return None
    label = label_path(image, config.root)
    label_name = relative_name(label, config.root)
    escape = link_escape(label, config.root) if label.exists() else None
    if escape is not None:
        issues.add(
            "path_escapes_root",
            Severity.ERROR,
            f"label file {escape}; image set aside",
            label_name,
            None,
            image_id,
        )
        return None
    try:
        lines = text_lines(label.read_bytes())
    except FileNotFoundError:
        # No label file: a background image, as in Ultralytics (a note, not a warning:
        # a dataset with background images is a correct dataset).
        issues.add(
            "label_missing",
            Severity.INFO,
            f"image {name} has no label file; loaded with no boxes (a background image)",
            label_name,
            None,
            image_id,
        )
        lines = []
    except OSError as e:
        issues.add(
            "label_unreadable",
            Severity.ERROR,
            f"cannot read label file: {e.strerror}; image set aside",
            label_name,
            None,
            image_id,
        )
        return None
    for n, _ in (line for line in lines if line[1] is None):
        issues.add(
            "label_unreadable", Severity.ERROR, not_utf8(n), label_name, f"line {n}", image_id
        )
    text = "\n".join(line if line is not None else "" for _, line in lines)
    boxes, classes = parse_label(
        text, info.width, info.height, len(config.class_names), issues, label_name, image_id
    )
    return ImageRecord(image_id, image, info.width, info.height, boxes, classes)


def parse_label(
    text: str,
    width: int,
    height: int,
    num_classes: int,
    issues: IssueLog,
    path: str,
    image_id: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes float32 (N, 4) xyxy pixels and classes int64 (N,) from a label file's
    text; a bad line is logged (error) and set aside, the others load."""
    boxes, classes = [], []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {n}"
        if len(fields) != 5:
            issues.add(
                "label_columns",
                Severity.ERROR,
                f"{len(fields)} columns, expected 5 (class cx cy w h): {line.strip()!r}",
                path,
                where,
                image_id,
            )
            continue
        try:
            values = [float(v) for v in fields[1:]]
        except ValueError:
            issues.add(
                "label_number",
                Severity.ERROR,
                f"not a number in {line.strip()!r}",
                path,
                where,
                image_id,
            )
            continue
        try:
            cls = int(fields[0])
        except ValueError:
            issues.add(
                "class_invalid",
                Severity.ERROR,
                f"class id {fields[0]!r} is not an integer",
                path,
                where,
                image_id,
            )
            continue
        if not 0 <= cls < num_classes:
            issues.add(
                "class_unknown",
                Severity.ERROR,
                f"class id {cls} is outside 0..{num_classes - 1}",
                path,
                where,
                image_id,
            )
            continue
        box = as_stored(yolo_line_to_xyxy(*values, width, height))
        if check_box(box, width, height, issues, path, where, image_id):
            boxes.append(box)
            classes.append(cls)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64)


# -- writing ---------------------------------------------------------------------------


def write(dataset: Dataset, out: Path) -> Path:
    """Write ``out/data.yaml``, ``out/images/<split>/`` and ``out/labels/<split>/``
    (images in no split under ``unassigned``); returns the YAML's path.

    The YAML opens in Ultralytics as it is: no ``path`` key, so that both take the
    YAML's folder as the root wherever it is moved and whatever the working directory
    (Ultralytics reads a relative ``path``, even ``.``, from the working directory or
    its datasets folder, never from the YAML's). ``names`` is a list and ``nc`` its
    length; Ultralytics ignores ``unassigned``. Only the splits the dataset has are
    written: Ultralytics trains only on a YAML with ``train`` and ``val``."""
    out = prepare_output(dataset, out, "yolo")
    split_of = {i: split for split, ids in dataset.splits.items() for i in ids}
    folders = [s for s in SPLITS if s in dataset.splits]
    if any(r.id not in split_of for r in dataset):
        folders.append(UNASSIGNED)
    for folder in folders:
        # Empty splits still get their folders: the YAML must not name a missing path.
        (out / "images" / folder).mkdir(parents=True, exist_ok=True)
        (out / "labels" / folder).mkdir(parents=True, exist_ok=True)
    for r in dataset:
        folder = split_of.get(r.id, UNASSIGNED)
        place_image(r.path, out / "images" / folder / f"{r.id}{r.path.suffix}")
        label = out / "labels" / folder / f"{r.id}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            xyxy_to_yolo_line(b, c, r.width, r.height) + "\n" for b, c in zip(r.boxes, r.classes)
        ]
        label.write_text("".join(lines), encoding="utf-8")
    data: dict[str, object] = {folder: f"images/{folder}" for folder in folders}
    data.update({"nc": dataset.num_classes, "names": list(dataset.class_names)})
    file = out / "data.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return file
