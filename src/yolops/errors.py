"""Every exception yolops raises on purpose.

Every message names the file, the record and what is wrong, so that the CLI can
print it as it is (no traceback) and a user knows where to look. One module for all
of them, so that any layer can raise and catch them without importing another.
"""

from __future__ import annotations


class YolopsError(Exception):
    """Base of every error yolops raises on purpose."""


class ConfigError(YolopsError):
    """A configuration value or file is invalid."""


# -- data -------------------------------------------------------------------------------------


class DatasetFormatError(YolopsError):
    """A path holds no dataset yolops can read, or a mix of formats."""


class DatasetVersionError(YolopsError):
    """A dataset version, tag or reference that cannot be used as asked."""


class UnknownDatasetError(DatasetVersionError):
    """No versioned dataset has that name in the workspace."""


class DataLoadError(YolopsError):
    """Loading found problems and was asked to be strict; lists all of them."""

    def __init__(self, message: str, issues: list | None = None):
        super().__init__(message)
        self.issues = list(issues or [])


class ImageReadError(YolopsError):
    """An image file is missing, not an image, truncated or cannot be decoded.
    ``code`` is a stable name for the problem (``image_corrupt``, ...)."""

    def __init__(self, path: object, code: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.code = code
        self.reason = message


class SourceError(YolopsError):
    """A source path does not exist, holds nothing to predict on, or cannot be read."""


# -- models, tracking, monitoring -------------------------------------------------------------


class ModelError(YolopsError):
    """A model reference, checkpoint or export cannot be used."""


class TrackingError(YolopsError):
    """The tracking store or server cannot be used, or a run or model is unknown there."""


class PromotionRefused(TrackingError):
    """A model version may not take an alias (its validation score is lower)."""


class ReferenceStatsError(YolopsError):
    """Reference statistics of a model version cannot be built, read or found."""


class AlertError(YolopsError):
    """The webhook could not be reached or refused the alert."""


# -- the platform -----------------------------------------------------------------------------


class DatabaseError(YolopsError):
    """The workspace database cannot be reached or used."""


class AuthError(YolopsError):
    """A user, key or session is unknown, or an identity operation is refused."""


class Overloaded(YolopsError):
    """More images are waiting than the server accepts; the client should retry later."""


# -- labeling ---------------------------------------------------------------------------------


class LabelError(YolopsError):
    """A labeling project, task or request that cannot be used as asked (bad boxes,
    an unknown class, a stage that does not exist)."""


class NotFoundError(LabelError):
    """No project or task of that name or id."""


class Forbidden(LabelError):
    """The role, or the two-person rule, does not allow this person to do this."""


class Conflict(LabelError):
    """Somebody changed the task first (its revision moved on), or the task is not at
    the stage the request is for. ``current`` is the task as it is now."""

    def __init__(self, message: str, current: object = None):
        super().__init__(message)
        self.current = current
