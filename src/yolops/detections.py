"""Detections: what a detector says about one image, in the canonical form."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes float32 (N, 4) xyxy in pixels of the original image, scores float32 (N,),
    classes int64 (N,). ``class_names`` maps class ids to names when known."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, np.float32).reshape(-1)
        classes = np.asarray(self.classes, np.int64).reshape(-1)
        if not (len(boxes) == len(scores) == len(classes)):
            raise ValueError(
                f"detections: {len(boxes)} boxes, {len(scores)} scores, {len(classes)} classes"
            )
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "class_names", tuple(self.class_names))

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: np.ndarray) -> Detections:
        return Detections(self.boxes[keep], self.scores[keep], self.classes[keep], self.class_names)

    def to_dicts(self) -> list[dict]:
        """One JSON-ready dict per box: box [x1, y1, x2, y2], score, class_id, class_name."""
        out = []
        for b, s, c in zip(self.boxes.tolist(), self.scores.tolist(), self.classes.tolist()):
            name = self.class_names[c] if 0 <= c < len(self.class_names) else str(c)
            out.append(
                {
                    "box": [round(v, 2) for v in b],
                    "score": round(s, 5),
                    "class_id": c,
                    "class_name": name,
                }
            )
        return out
