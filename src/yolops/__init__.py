"""yolops: from raw images to a monitored real-time object detector.

The public Python API is re-exported here; the CLI is a thin layer over it.
"""

from yolops.data.dataset import Dataset, ImageRecord
from yolops.detections import Detections
from yolops.errors import YolopsError
from yolops.issues import Issue, IssueLog, Severity

__version__ = "0.1.0"

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


def __getattr__(name: str):
    # Detector pulls in torch and ONNX Runtime; import it only when asked for.
    if name == "Detector":
        from yolops.detector import Detector

        return Detector
    raise AttributeError(f"module 'yolops' has no attribute {name!r}")
