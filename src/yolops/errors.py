"""Exceptions raised by yolops.

Every message names the file, the record and what is wrong, so that the CLI can
print it as it is (no traceback) and a user knows where to look.
"""

from __future__ import annotations


class YolopsError(Exception):
    """Base of every error yolops raises on purpose."""


class DatasetFormatError(YolopsError):
    """A path holds no dataset yolops can read, or a mix of formats."""


class DataLoadError(YolopsError):
    """Loading found problems and was asked to be strict; lists all of them."""

    def __init__(self, message: str, issues: list | None = None):
        super().__init__(message)
        self.issues = list(issues or [])


class ConfigError(YolopsError):
    """A configuration value or file is invalid."""


class ModelError(YolopsError):
    """A model reference, checkpoint or export cannot be used."""


class TrackingError(YolopsError):
    """The tracking store or server cannot be used, or a run or model is unknown there."""


class PromotionRefused(TrackingError):
    """A model version may not take an alias (its validation score is lower)."""
