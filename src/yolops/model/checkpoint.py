"""Checkpoints: everything needed to predict with a model, or to resume its training.

A checkpoint is a plain dict of tensors and Python values, loaded with
``weights_only=True`` so that opening a file cannot run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from yolops.errors import ConfigError, ModelError
from yolops.model.yolo import YOLO, build_model


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write never leaves a broken ``last.pt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write leaves the old file and no partial one


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
    if not isinstance(state, dict):
        raise ModelError(
            f"{path}: not a yolops checkpoint (it holds a {type(state).__name__}, not a dict)"
        )
    missing = [k for k in ("model", "scale", "class_names", "imgsz") if k not in state]
    if missing:
        raise ModelError(f"{path}: not a yolops checkpoint (missing {', '.join(missing)})")
    return state


def model_from_checkpoint(state: dict[str, Any], source: str = "checkpoint") -> YOLO:
    """The network a checkpoint describes, its weights loaded, in eval mode."""
    try:
        model = build_model(state["scale"], len(state["class_names"]))
    except ConfigError as e:  # a scale this version does not know, no classes, ...
        raise ModelError(f"{source}: cannot build its model: {e}") from None
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ModelError(
            f"{source}: weights do not fit a yolops-{state['scale']} model: {e}"
        ) from None
    return model.eval()
