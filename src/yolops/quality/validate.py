"""Validate a dataset: every check, the statistics, the schema and drift in one report.

:func:`validate_dataset` is the quality gate of the pipeline: it reads each image
once (:func:`yolops.quality.images.scan_images`), runs the checks of
:mod:`yolops.quality.checks` and :mod:`yolops.quality.images`, compares with a
schema and, given a reference dataset, measures drift. The resulting
:class:`QualityReport` is JSON-ready (``to_dict``), renders to HTML
(:func:`yolops.quality.report.write_html`) and gives the gate's exit code.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from yolops.data.dataset import Dataset
from yolops.data.stats import DatasetStats, dataset_stats
from yolops.errors import ConfigError
from yolops.issues import Issue, IssueLog, Severity
from yolops.quality import checks
from yolops.quality.checks import CheckConfig
from yolops.quality.drift import DriftConfig, DriftReport, compare
from yolops.quality.images import (
    ImageCheckConfig,
    ImageScan,
    check_images,
    cleanvision_issues,
    scan_images,
)
from yolops.quality.schema import Schema, SchemaConfig, infer_schema

# A check that needs more than the dataset (e.g. label errors from a model's
# out-of-sample predictions, yolops.quality.labels) plugs in as one of these.
ExtraCheck = Callable[[Dataset], Iterable[Issue]]
FAIL_ON = ("error", "warning", "info", "never")
IMAGE_CHECKERS = ("yolops", "cleanvision")


@dataclass(frozen=True)
class QualityConfig:
    """Everything :func:`validate_dataset` can be told. ``read_images=False`` checks
    annotations only (no image checks, duplicates or image drift) and reads no pixel."""

    checks: CheckConfig = CheckConfig()
    images: ImageCheckConfig = ImageCheckConfig()
    drift: DriftConfig = DriftConfig()
    schema: SchemaConfig = SchemaConfig()
    read_images: bool = True
    workers: int = 2  # threads decoding images
    image_checker: str = (
        "yolops"  # or "cleanvision": its dark, light, blurry, ... findings instead of ours
    )

    def __post_init__(self) -> None:
        if self.image_checker not in IMAGE_CHECKERS:
            raise ConfigError(
                f"image_checker must be one of {', '.join(IMAGE_CHECKERS)}, "
                f"got {self.image_checker!r}"
            )


@dataclass(frozen=True, eq=False)
class QualityReport:
    """What validation found. ``issues`` are sorted by severity (errors first), code
    and image; ``schema_source`` says where the schema came from: ``given``,
    ``reference`` (inferred from ``against``) or ``inferred`` (from this dataset, so
    out-of-range findings are only outliers, at info level). ``image_stats`` maps
    image id to :func:`yolops.quality.images.image_stats`; ``seconds`` times each stage.
    ``dataset`` is kept for the HTML thumbnails and left out of ``to_dict``."""

    dataset: Dataset
    issues: tuple[Issue, ...]
    stats: DatasetStats
    schema: Schema
    schema_source: str
    image_stats: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    drift: DriftReport | None = None
    seconds: Mapping[str, float] = field(default_factory=dict)

    def counts_by_severity(self) -> dict[str, int]:
        """Issues per severity, every severity present:
        ``{"error": 2, "warning": 5, "info": 0}``."""
        counts = Counter(i.severity.value for i in self.issues)
        return {
            s.value: counts.get(s.value, 0)
            for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
        }

    def counts_by_code(self) -> dict[str, int]:
        return dict(Counter(i.code for i in self.issues).most_common())

    def at_least(self, severity: Severity | str) -> list[Issue]:
        return IssueLog(list(self.issues)).at_least(severity)

    def exit_code(self, fail_on: str = "error") -> int:
        """1 when any issue is at or above ``fail_on`` (error, warning, info), else 0;
        ``never`` always gives 0."""
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
        if fail_on == "never":
            return 0
        return int(bool(self.at_least(fail_on)))

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset.name,
            "images": len(self.dataset),
            "boxes": self.dataset.num_boxes,
            "counts_by_severity": self.counts_by_severity(),
            "counts_by_code": self.counts_by_code(),
            "issues": [i.to_dict() for i in self.issues],
            "schema_source": self.schema_source,
            "schema": self.schema.to_dict(),
            "stats": self.stats.to_dict(),
            "drift": self.drift.to_dict() if self.drift else None,
            "image_stats": {
                k: {n: round(v, 5) for n, v in s.items()} for k, s in self.image_stats.items()
            },
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def validate_dataset(
    ds: Dataset,
    schema: Schema | None = None,
    against: Dataset | None = None,
    config: QualityConfig = QualityConfig(),
    extra_checks: Sequence[ExtraCheck] = (),
    progress: Callable[[int], None] | None = None,
) -> QualityReport:
    """Check ``ds``: against ``schema`` when given, else against one inferred from
    ``against`` (the reference) or from ``ds`` itself; measure drift from ``against``
    when given. ``extra_checks`` run last (the hook for label-error detection).
    ``progress(1)`` is called as each image of ``ds``, then of ``against``, is read
    (with ``config.read_images``; e.g. :meth:`yolops.progress.Progress.advance`)."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    scans = scan_images(ds, config.workers, progress) if config.read_images else {}
    ref_scans = (
        scan_images(against, config.workers, progress)
        if against is not None and config.read_images
        else {}
    )
    lap("read images")
    stats = dataset_stats(ds)
    schema, source = _schema(ds, schema, against, scans, ref_scans, config.schema)
    found = _checks(ds, stats, schema, source, scans, config)
    lap("checks")
    drift = None
    if against is not None:
        drift_config = config.drift if config.read_images else _no_image_features(config.drift)
        drift = compare(against, ds, drift_config, ref_scans, scans)
        found.extend(drift.issues())
    lap("drift")
    for check in extra_checks:
        found.extend(check(ds))
    lap("extra checks")
    issues = _merge_with_loader(list(ds.issues), found)
    return QualityReport(
        dataset=ds,
        issues=tuple(sorted(issues, key=_order)),
        stats=stats,
        schema=schema,
        schema_source=source,
        image_stats={k: dict(s.stats) for k, s in scans.items() if s.ok},
        drift=drift,
        seconds=seconds,
    )


def _schema(ds, schema, against, scans, ref_scans, config: SchemaConfig) -> tuple[Schema, str]:
    if schema is not None:
        return schema, "given"
    if against is not None:
        return infer_schema(
            against, config, _formats(ref_scans) if ref_scans else None
        ), "reference"
    return infer_schema(ds, config, _formats(scans) if scans else None), "inferred"


def _formats(scans: Mapping[str, ImageScan]) -> dict[str, tuple[str, str]]:
    return {k: (s.format, s.mode) for k, s in scans.items() if s.ok}


def _checks(
    ds: Dataset,
    stats: DatasetStats,
    schema: Schema,
    source: str,
    scans: Mapping[str, ImageScan],
    config: QualityConfig,
) -> list[Issue]:
    c = config.checks
    severity = Severity.INFO if source == "inferred" else Severity.WARNING
    found = [
        *checks.check_boxes(ds, c),
        *checks.check_overlapping_boxes(ds, c),
        *checks.check_empty_images(ds),
        *checks.check_class_balance(stats, c),
        *checks.check_split_coverage(stats),
        *checks.check_against_schema(ds, schema, scans, c, severity),
    ]
    if scans:
        found += checks.check_duplicate_images(ds, scans, c)
        ours = config.image_checker == "yolops"
        found += check_images(ds, scans, config.images, appearance=ours)
        if not ours:
            found += cleanvision_issues(ds, scans, config.workers)
    return found


# A check's finding the loader reports under another code: an image with no label
# file (YOLO's label_missing) is the image without boxes, noted once.
SAME_FINDING = {"image_no_boxes": ("label_missing",)}


def _merge_with_loader(loader: list[Issue], found: list[Issue]) -> list[Issue]:
    """The loader's issues, then the checks' findings minus those the loader already
    reported for the same image under the same code (a box kept with a warning at
    load, e.g. ``box_out_of_bounds``, would otherwise be listed twice) or under a code
    of :data:`SAME_FINDING`."""
    seen = {(i.code, i.image_id) for i in loader if i.image_id is not None}

    def known(issue: Issue) -> bool:
        codes = (issue.code, *SAME_FINDING.get(issue.code, ()))
        return any((code, issue.image_id) in seen for code in codes)

    return loader + [i for i in found if not known(i)]


def _order(issue: Issue) -> tuple:
    # Scored issues (label errors) come most likely first within their code.
    return (
        -issue.severity.rank,
        issue.code,
        getattr(issue, "score", 0.0),
        issue.path or "",
        issue.location or "",
    )


def _no_image_features(config: DriftConfig) -> DriftConfig:
    return replace(config, image_features=())
