"""Checkpoints: everything needed to predict with a model, or to resume its training.

A checkpoint is a plain dict of tensors and Python values, loaded with
``weights_only=True`` so that opening a file cannot run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from yolops.errors import ModelError
from yolops.model.yolo import YOLO, build_model


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write never leaves a broken ``last.pt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file
        raise ModelError(
            f"{path}: not a readable yolops checkpoint ({type(e).__name__}: {e})"
        ) from None
    missing = [k for k in ("model", "scale", "class_names", "imgsz") if k not in state]
    if missing:
        raise ModelError(f"{path}: not a yolops checkpoint (missing {', '.join(missing)})")
    return state


def model_from_checkpoint(state: dict[str, Any], source: str = "checkpoint") -> YOLO:
    model = build_model(state["scale"], len(state["class_names"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ModelError(
            f"{source}: weights do not fit a yolops-{state['scale']} model: {e}"
        ) from None
    return model.eval()
