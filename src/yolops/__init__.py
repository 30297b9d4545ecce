"""yolops: from raw images to a monitored real-time object detector.

The public Python API is re-exported here; the CLI is a thin layer over it.
"""

from yolops._lazy import lazy_exports
from yolops._version import __version__
from yolops.data.dataset import Dataset, ImageRecord
from yolops.detections import Detections
from yolops.errors import YolopsError
from yolops.issues import Issue, IssueLog, Severity

__all__ = [
    "Dataset",
    "Detector",
    "Detections",
    "ImageRecord",
    "Issue",
    "IssueLog",
    "Severity",
    "YolopsError",
    "__version__",
]


# Detector pulls in torch and ONNX Runtime: imported when first asked for.
__getattr__, __dir__ = lazy_exports(__name__, {"Detector": "yolops.detector"})
