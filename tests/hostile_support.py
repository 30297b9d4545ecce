"""Helpers of the hostile-input tests: small datasets to hold the bad files."""

from __future__ import annotations

from pathlib import Path


def yolo_dataset(root: Path, images: dict[str, bytes], labels: dict[str, str]) -> Path:
    """``root/data.yaml`` with images/train/<name> and labels/train/<stem>.txt."""
    (root / "images/train").mkdir(parents=True)
    (root / "labels/train").mkdir(parents=True)
    for name, data in images.items():
        (root / "images/train" / name).write_bytes(data)
    for stem, text in labels.items():
        (root / "labels/train" / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text("train: images/train\nnames: [thing]\n")
    return root / "data.yaml"
