"""The scores that order the studio's queues.

- For annotators, the model's **uncertainty** about an image (active learning): the
  summed binary entropy of its detection scores, so images with many detections the
  model is unsure of come first.
- For reviewers, how likely the submitted labels hold a **label error**: one minus
  cleanlab's label quality score of the image (through :mod:`yolops.quality.labels`,
  the same scores `yolops data validate --labels` ranks by), from the labels and the
  model's proposals.
"""

from __future__ import annotations

import numpy as np

from yolops.data.record import ImageRecord
from yolops.detections import Detections

_EPS = 1e-6


def uncertainty(scores: np.ndarray) -> float:
    """Summed binary entropy (bits) of detection scores: 0 for an image the model is
    sure about, more for each detection near 0.5."""
    p = np.clip(np.asarray(scores, np.float64), _EPS, 1 - _EPS)
    return float(np.sum(-(p * np.log2(p) + (1 - p) * np.log2(1 - p))))


def label_error_score(task, project) -> float | None:
    """1 - cleanlab's label quality of a task's labels against its proposals; None
    when the proposals carry no scores (they did not come from a model run here)."""
    from yolops.data.dataset import Dataset
    from yolops.label.labels import to_arrays
    from yolops.quality.labels import label_scores

    proposals = list(task.proposals or [])
    if any("score" not in p for p in proposals):
        return None
    boxes, classes = to_arrays(task.boxes or [])
    record = ImageRecord(str(task.id), task.image_id, task.width, task.height, boxes, classes)
    pboxes, pclasses = to_arrays(proposals)
    scores = np.array([p["score"] for p in proposals], np.float32)
    ds = Dataset([record], project.classes, name=project.name)
    result = label_scores(ds, {record.id: Detections(pboxes, scores, pclasses)})
    return float(1.0 - result.image_scores[0])
