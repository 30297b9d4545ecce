"""Helpers of the labeling studio's tests: a workspace with images, people of every
role, and a project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from yolops.identity import Actor
from yolops.label.importing import add_tasks
from yolops.label.projects import Project, create_project
from yolops.label.store import LabelStore
from yolops.workspace import Workspace

ADMIN = Actor("cli:test", "admin")
MANAGER = Actor("mia", "manager")
ALICE = Actor("alice", "annotator")
ANNA = Actor("anna", "annotator")
BOB = Actor("bob", "reviewer")
RITA = Actor("rita", "reviewer")
VIC = Actor("vic", "viewer")
CLASSES = ("cell", "blob")


def write_images(folder: Path, n: int, size=(80, 60), seed: int = 0) -> Path:
    """``n`` small PNG images with a rectangle each, named ``im00.png``, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    for i in range(n):
        img = np.full((height, width, 3), 30, np.uint8)
        x, y = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        img[y : y + 15, x : x + 15] = (200, 80, 40)
        Image.fromarray(img).save(folder / f"im{i:02d}.png")
    return folder


def studio(tmp_path: Path) -> LabelStore:
    return LabelStore(Workspace.resolve(tmp_path / "ws"))


def project_with_tasks(
    store: LabelStore,
    folder: Path,
    n: int = 3,
    stages=("annotate", "review"),
    overlap: int = 1,
    name: str = "cells",
) -> Project:
    project = create_project(store, ADMIN, name, CLASSES, stages, overlap)
    add_tasks(store, ADMIN, project, write_images(folder, n))
    return project


def box(x1, y1, x2, y2, cls=0) -> dict:
    return {"box": [x1, y1, x2, y2], "cls": cls}
