"""Data quality for detection datasets: schema, anomaly, image and label checks, drift, report.

from yolops.quality import LabelErrorCheck, validate_dataset, write_html
report = validate_dataset(ds, against=reference, extra_checks=[LabelErrorCheck("model.pt")])
write_html(report, "quality.html"); sys.exit(report.exit_code("error"))
"""

from yolops.quality.checks import CheckConfig
from yolops.quality.drift import DriftConfig, DriftReport, FeatureDrift, compare
from yolops.quality.images import ImageCheckConfig, image_stats
from yolops.quality.labels import (
    KFoldConfig,
    LabelCheckConfig,
    LabelErrorCheck,
    LabelIssue,
    label_issues,
    label_scores,
)
from yolops.quality.plant import plant_and_validate, plant_defects
from yolops.quality.report import write_html
from yolops.quality.schema import Schema, SchemaConfig, infer_schema
from yolops.quality.validate import QualityConfig, QualityReport, validate_dataset

__all__ = [
    "CheckConfig",
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "ImageCheckConfig",
    "KFoldConfig",
    "LabelCheckConfig",
    "LabelErrorCheck",
    "LabelIssue",
    "QualityConfig",
    "QualityReport",
    "Schema",
    "SchemaConfig",
    "compare",
    "image_stats",
    "infer_schema",
    "label_issues",
    "label_scores",
    "plant_and_validate",
    "plant_defects",
    "validate_dataset",
    "write_html",
]
