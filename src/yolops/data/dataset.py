"""The canonical in-memory dataset: :class:`Dataset`, a list of :class:`ImageRecord`.

Every module speaks this form; file formats exist only in :mod:`yolops.data.formats`.

- boxes: float32 array (N, 4), xyxy, in pixels of the original image
- classes: int64 array (N,), indices into ``Dataset.class_names``
- attributes: optional per-box arrays of length N (``difficult``, ``truncated``, ``iscrowd``)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from yolops.data import formats, versions
from yolops.data.record import SPLITS, DatasetParts, ImageRecord, VersionInfo
from yolops.errors import UnknownDatasetError, YolopsError
from yolops.issues import IssueLog, Severity
from yolops.workspace import Workspace

__all__ = ["SPLITS", "Dataset", "ImageRecord", "load_dataset", "save_dataset"]


class Dataset:
    """An ordered collection of :class:`ImageRecord` with class names and named splits.

    ``splits`` maps a split name (``train``, ``val``, ``test``) to image ids; an image
    is in at most one split, and may be in none. ``issues`` holds what loading found;
    ``version`` which dataset version (``NAME@vN``) it is or was derived from (a
    split, a filter), when it was loaded as one.
    """

    def __init__(
        self,
        records: Iterable[ImageRecord],
        class_names: Sequence[str],
        splits: Mapping[str, Iterable[str]] | None = None,
        name: str = "dataset",
        root: Path | str | None = None,
        issues: IssueLog | None = None,
        version: VersionInfo | None = None,
    ):
        self.records: tuple[ImageRecord, ...] = tuple(records)
        self.version = version  # the dataset version it came from, if any
        self._whole_version = version is not None  # False for a split or filter of one
        self.class_names: tuple[str, ...] = tuple(class_names)
        self.name = name
        self.root = Path(root) if root is not None else None
        self.issues = issues if issues is not None else IssueLog()
        self._index = {r.id: i for i, r in enumerate(self.records)}
        if len(self._index) != len(self.records):
            dup = [k for k, n in Counter(r.id for r in self.records).items() if n > 1]
            raise YolopsError(f"dataset {name!r}: duplicate image ids {dup[:5]}")
        if len(set(self.class_names)) != len(self.class_names):
            raise YolopsError(f"dataset {name!r}: duplicate class names {self.class_names}")
        num_classes = len(self.class_names)
        for r in self.records:
            if len(r.classes) and (r.classes.min() < 0 or r.classes.max() >= num_classes):
                raise YolopsError(
                    f"dataset {name!r}: image {r.id!r} has class ids outside 0..{num_classes - 1}"
                )
        self.splits: dict[str, tuple[str, ...]] = {}
        seen: dict[str, str] = {}
        for split, ids in (splits or {}).items():
            ids = tuple(ids)
            for i in ids:
                if i not in self._index:
                    raise YolopsError(
                        f"dataset {name!r}: split {split!r} names unknown image {i!r}"
                    )
                if i in seen:
                    raise YolopsError(
                        f"dataset {name!r}: image {i!r} is in splits {seen[i]!r} and {split!r}"
                    )
                seen[i] = split
            self.splits[split] = ids

    # -- access -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    def __getitem__(self, key: int | str) -> ImageRecord:
        if isinstance(key, str):
            try:
                return self.records[self._index[key]]
            except KeyError:
                raise KeyError(f"dataset {self.name!r} has no image {key!r}") from None
        return self.records[key]

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._index

    def __repr__(self) -> str:
        splits = "".join(f", {k}={len(v)}" for k, v in self.splits.items())
        return (
            f"Dataset({self.name!r}, images={len(self)}, boxes={self.num_boxes}, "
            f"classes={len(self.class_names)}{splits})"
        )

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_boxes(self) -> int:
        return sum(len(r) for r in self.records)

    def split_of(self, image_id: str) -> str | None:
        for name, ids in self.splits.items():
            if image_id in ids:
                return name
        return None

    def class_counts(self) -> dict[str, int]:
        """Boxes per class name, in class order."""
        counts = np.zeros(self.num_classes, np.int64)
        for r in self.records:
            counts += np.bincount(r.classes, minlength=self.num_classes)
        return dict(zip(self.class_names, counts.tolist()))

    def content_hash(self) -> str:
        """A hash of the annotations, class list and splits; for a dataset version, its
        digest, which covers the image bytes too."""
        if self.version is not None and self._whole_version:
            return self.version.digest[:16]
        h = hashlib.sha256()
        h.update("\x00".join(self.class_names).encode())
        for r in sorted(self.records, key=lambda r: r.id):
            h.update(f"{r.id}|{r.width}|{r.height}|".encode())
            h.update(np.ascontiguousarray(r.boxes).tobytes())
            h.update(np.ascontiguousarray(r.classes).tobytes())
        for name in sorted(self.splits):
            h.update(f"{name}:{','.join(sorted(self.splits[name]))}".encode())
        return h.hexdigest()[:16]

    # -- deriving new datasets ----------------------------------------------------

    def _derive(self, records: Iterable[ImageRecord], **changes) -> Dataset:
        records = tuple(records)
        keep = {r.id for r in records}
        splits = changes.pop(
            "splits", {k: [i for i in v if i in keep] for k, v in self.splits.items()}
        )
        kwargs = dict(
            class_names=self.class_names,
            name=self.name,
            root=self.root,
            issues=self.issues,
            version=self.version,
        )
        kwargs.update(changes)
        derived = Dataset(records, splits=splits, **kwargs)
        derived._whole_version = False
        return derived

    def split(self, name: str) -> Dataset:
        """The images of one split, as a dataset whose only split is ``name``."""
        if name not in self.splits:
            raise YolopsError(
                f"dataset {self.name!r} has no split {name!r} "
                f"(it has: {', '.join(self.splits) or 'none'})"
            )
        ids = set(self.splits[name])
        return self._derive(r for r in self.records if r.id in ids)

    def filter(self, predicate: Callable[[ImageRecord], bool]) -> Dataset:
        return self._derive(r for r in self.records if predicate(r))

    def subset(self, ids: Iterable[str]) -> Dataset:
        return self._derive(self[i] for i in ids)

    def map(self, fn: Callable[[ImageRecord], ImageRecord]) -> Dataset:
        return self._derive(fn(r) for r in self.records)

    def with_splits(self, splits: Mapping[str, Iterable[str]]) -> Dataset:
        return self._derive(self.records, splits=splits)

    def random_split(
        self,
        fractions: Mapping[str, float] | None = None,
        seed: int = 0,
        stratify: bool = True,
    ) -> Dataset:
        """Assign every image to a split, seeded, stratified by class presence.

        Images are grouped by the rarest class they contain (or ``no boxes``), each
        group is shuffled and cut by ``fractions``; so every split gets its share of
        every class, the rare ones included.
        """
        fractions = dict(fractions or {"train": 0.8, "val": 0.2})
        total = sum(fractions.values())
        if total <= 0 or any(f < 0 for f in fractions.values()):
            raise YolopsError(f"split fractions must be non-negative and sum > 0: {fractions}")
        rng = np.random.default_rng(seed)
        freq = np.zeros(self.num_classes, np.int64)
        for r in self.records:
            freq += np.bincount(np.unique(r.classes), minlength=self.num_classes)

        def key(r: ImageRecord) -> int:
            if not stratify or len(r.classes) == 0:
                return -1
            present = np.unique(r.classes)
            return int(present[np.argmin(freq[present])])

        groups: dict[int, list[str]] = {}
        for r in self.records:
            groups.setdefault(key(r), []).append(r.id)
        names = list(fractions)
        cum = np.cumsum([fractions[n] / total for n in names])
        out: dict[str, list[str]] = {n: [] for n in names}
        # Carry the rounding remainder across groups so split sizes stay exact overall.
        carry = np.zeros(len(names))
        for g in sorted(groups):
            ids = groups[g]
            order = rng.permutation(len(ids))
            want = np.diff(np.concatenate([[0.0], cum * len(ids)])) + carry
            take = np.floor(want + 1e-9).astype(int)
            while take.sum() < len(ids):
                take[np.argmax(want - take)] += 1
            carry = want - take
            start = 0
            for n, k in zip(names, take):
                out[n].extend(ids[j] for j in order[start : start + k])
                start += k
        return self._derive(self.records, splits=out)

    def remap_classes(self, class_names: Sequence[str]) -> Dataset:
        """The same dataset over a new class list, mapped by name.

        Every current class must be in ``class_names``; extra names are allowed.
        """
        missing = [c for c in self.class_names if c not in class_names]
        if missing:
            raise YolopsError(
                f"dataset {self.name!r}: classes {missing} are not in the target class list"
            )
        lut = np.array([list(class_names).index(c) for c in self.class_names], np.int64)

        def remap(r: ImageRecord) -> ImageRecord:
            return r.replace(classes=lut[r.classes] if len(r.classes) else r.classes)

        return self._derive((remap(r) for r in self.records), class_names=tuple(class_names))

    @classmethod
    def merge(cls, datasets: Sequence[Dataset], name: str | None = None) -> Dataset:
        """Concatenate datasets whose class lists may differ: classes are matched by
        name, in order of first appearance. Image ids must be unique across them."""
        if not datasets:
            raise YolopsError("merge needs at least one dataset")
        names: list[str] = []
        for d in datasets:
            names.extend(c for c in d.class_names if c not in names)
        records: list[ImageRecord] = []
        splits: dict[str, list[str]] = {}
        issues = IssueLog()
        for d in datasets:
            m = d.remap_classes(names)
            records.extend(m.records)
            for k, v in m.splits.items():
                splits.setdefault(k, []).extend(v)
            issues.extend(d.issues)
        return cls(
            records,
            names,
            splits=splits,
            name=name or "+".join(d.name for d in datasets),
            root=None,
            issues=issues,
        )

    # -- I/O (formats live in yolops.data.formats) --------------------------------

    @classmethod
    def load(
        cls,
        path: str | Path,
        format: str | None = None,
        strict: bool = False,
        workspace: Workspace | None = None,
    ) -> Dataset:
        """Read a dataset in YOLO, COCO, VOC, Label Studio or CVAT form (the format is
        detected when not given), or a dataset version: ``NAME@vN``, ``NAME@TAG`` or
        ``NAME`` (the latest) from ``workspace`` (default: :meth:`Workspace.resolve`)
        when no file or folder has that name. Problems go to ``dataset.issues``;
        ``strict`` raises on any warning or error with the whole list instead."""
        if format is None and not Path(path).exists() and versions.looks_like_ref(str(path)):
            return cls.from_parts(_load_version(str(path), workspace))
        path = Path(path)
        issues = IssueLog()
        parts = formats.read(path, format, issues)
        if strict:
            issues.raise_if_any(Severity.WARNING, what=str(path))
        return cls.from_parts(parts, issues)

    @classmethod
    def from_parts(cls, parts: DatasetParts, issues: IssueLog | None = None) -> Dataset:
        return cls(
            parts.records,
            parts.class_names,
            parts.splits,
            name=parts.name,
            root=parts.root,
            issues=issues,
            version=parts.version,
        )

    def save(self, out: str | Path, format: str) -> Path:
        """Write this dataset (images and annotations) under ``out`` in ``format``."""
        return formats.write(self, Path(out), format)


def _load_version(ref: str, workspace: Workspace | None) -> DatasetParts:
    try:
        return versions.load_version(workspace or Workspace.resolve(), ref)
    except UnknownDatasetError as e:
        if "@" in ref:
            raise
        raise UnknownDatasetError(f"{ref}: no such file or folder, and {e}") from None


def load_dataset(
    path: str | Path,
    format: str | None = None,
    strict: bool = False,
    workspace: Workspace | None = None,
) -> Dataset:
    """:meth:`Dataset.load`, as a function."""
    return Dataset.load(path, format=format, strict=strict, workspace=workspace)


def save_dataset(dataset: Dataset, out: str | Path, format: str) -> Path:
    """:meth:`Dataset.save`, as a function."""
    return dataset.save(out, format=format)
