"""Data quality for detection datasets: schema, anomaly and image checks, drift, report.

    from yolops.quality import validate_dataset, write_html
    report = validate_dataset(ds, against=reference)
    write_html(report, "quality.html"); sys.exit(report.exit_code("error"))
"""

from yolops.quality.checks import CheckConfig
from yolops.quality.drift import DriftConfig, DriftReport, FeatureDrift, compare
from yolops.quality.images import ImageCheckConfig, image_stats
from yolops.quality.report import write_html
from yolops.quality.schema import Schema, SchemaConfig, infer_schema
from yolops.quality.validate import QualityConfig, QualityReport, validate_dataset

__all__ = [
    "CheckConfig",
    "DriftConfig",
    "DriftReport",
    "FeatureDrift",
    "ImageCheckConfig",
    "QualityConfig",
    "QualityReport",
    "Schema",
    "SchemaConfig",
    "compare",
    "image_stats",
    "infer_schema",
    "validate_dataset",
    "write_html",
]
