"""Names a package exports but imports only when first used (deliberately, for
start-up time): ``yolops --help`` and the data commands must not load torch, MLflow
or FastAPI because a package's ``__init__`` names something that needs them.

    __getattr__, __dir__ = lazy_exports(__name__, {"Detector": "yolops.detector"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A module ``__getattr__`` that imports ``names[name]`` on first access and
    returns its attribute ``name``, and a ``__dir__`` that lists them with the rest."""

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
