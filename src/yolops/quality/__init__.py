"""Data quality for detection datasets: schema, anomaly, image and label checks, drift, report.

from yolops.quality import LabelErrorCheck, validate_dataset, write_html
report = validate_dataset(ds, against=reference, extra_checks=[LabelErrorCheck("model.pt")])
write_html(report, "quality.html"); sys.exit(report.exit_code("error"))
"""

from yolops._lazy import lazy_exports

# Imported on first use (deliberately, for start-up time): the data gate must not load
# the trainer that the label checks need, nor the report code that plots.
_NAMES = {
    "CheckConfig": "yolops.quality.checks",
    "DriftConfig": "yolops.quality.drift",
    "DriftReport": "yolops.quality.drift",
    "FeatureDrift": "yolops.quality.drift",
    "compare": "yolops.quality.drift",
    "ImageCheckConfig": "yolops.quality.images",
    "image_stats": "yolops.quality.images",
    "KFoldConfig": "yolops.quality.labels",
    "LabelCheckConfig": "yolops.quality.labels",
    "LabelErrorCheck": "yolops.quality.labels",
    "LabelIssue": "yolops.quality.labels",
    "label_issues": "yolops.quality.labels",
    "label_scores": "yolops.quality.labels",
    "plant_and_validate": "yolops.quality.plant",
    "plant_defects": "yolops.quality.plant",
    "write_html": "yolops.quality.report",
    "Schema": "yolops.quality.schema",
    "SchemaConfig": "yolops.quality.schema",
    "infer_schema": "yolops.quality.schema",
    "QualityConfig": "yolops.quality.validate",
    "QualityReport": "yolops.quality.validate",
    "validate_dataset": "yolops.quality.validate",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
