"""The yolops detector: network (yolo), box geometry (boxes), label assignment (assign),
loss (loss) and post-processing (postprocess), each its own module."""

from yolops.model.assign import Assignment, assign_targets
from yolops.model.loss import DetectionLoss, LossParts
from yolops.model.postprocess import postprocess
from yolops.model.yolo import SCALES, YOLO, HeadOutput, build_model, decode

__all__ = [
    "SCALES",
    "YOLO",
    "HeadOutput",
    "build_model",
    "decode",
    "Assignment",
    "assign_targets",
    "DetectionLoss",
    "LossParts",
    "postprocess",
]
