"""The tracking store, looked up: runs, registered models and the version a
reference names, with every store or network failure turned into a
:class:`~yolops.errors.TrackingError` naming the tracking URI.

    model_version(ws, "shapes@production")   # NAME@ALIAS, NAME/VERSION or NAME
    get_run(ws, run_id)
"""

from __future__ import annotations

import functools
import re

from mlflow.exceptions import MlflowException

from yolops.errors import TrackingError
from yolops.workspace import Workspace

ALIAS_REF = re.compile(r"^(?:models:/)?(?P<name>[\w.\-]+)@(?P<alias>[\w\-]+)$")
VERSION_REF = re.compile(r"^(?:models:/)?(?P<name>[\w.\-]+)/(?P<version>\d+)$")
NAME_RE = re.compile(r"^[\w.\-]+$")


def mlflow_error(e: Exception) -> str:
    """The first line of an MLflow error, for messages."""
    text = str(getattr(e, "message", "") or e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def not_found(e: Exception) -> bool:
    """Whether an MLflow error says the run, model or alias does not exist."""
    code = getattr(e, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def unreachable(ws: Workspace, e: Exception) -> TrackingError:
    return TrackingError(f"cannot use the tracking store {ws.tracking_uri}: {mlflow_error(e)}")


def store_errors(fn):
    """Turn a failing store or server (MLflow, network or database errors) inside a
    registry call into a :class:`TrackingError` naming the tracking URI."""

    @functools.wraps(fn)
    def wrapper(ws: Workspace, *args, **kwargs):
        try:
            return fn(ws, *args, **kwargs)
        except TrackingError:
            raise
        except Exception as e:
            if isinstance(e, (MlflowException, OSError)) or type(e).__module__.startswith(
                ("requests", "sqlalchemy")
            ):
                raise unreachable(ws, e) from None
            raise

    return wrapper


def get_run(ws: Workspace, run_id: str):
    """The MLflow run; :class:`TrackingError` naming the id when there is none."""
    try:
        return ws.client().get_run(run_id)
    except MlflowException as e:
        if not_found(e):
            raise TrackingError(
                f"no run {run_id!r} in {ws.describe()}; `yolops runs list` shows the runs"
            ) from None
        raise unreachable(ws, e) from None


def get_registered_model(ws: Workspace, name: str):
    try:
        return ws.client().get_registered_model(name)
    except MlflowException as e:
        if not_found(e):
            raise TrackingError(
                f"no registered model {name!r} in {ws.describe()}; "
                "`yolops models list` shows the models"
            ) from None
        raise unreachable(ws, e) from None


def versions(ws: Workspace, name: str) -> list:
    """Every version of a registered model, oldest first."""
    found = ws.client().search_model_versions(f"name='{name}'")
    return sorted(found, key=lambda mv: int(mv.version))


@store_errors
def model_version(ws: Workspace, ref: str):
    """The ``ModelVersion`` a reference names: ``NAME@ALIAS``, ``NAME/VERSION`` or
    ``NAME`` (its latest version)."""
    m_alias, m_version = ALIAS_REF.match(ref), VERSION_REF.match(ref)
    name = (
        (m_alias or m_version).group("name")
        if (m_alias or m_version)
        else ref.removeprefix("models:/")
    )
    if not NAME_RE.match(name):
        raise TrackingError(
            f"{ref!r} is not a model reference; use NAME@ALIAS, NAME/VERSION or NAME"
        )
    model = get_registered_model(ws, name)
    client = ws.client()
    if m_alias:
        alias = m_alias.group("alias")
        try:
            return client.get_model_version_by_alias(name, alias)
        except MlflowException as e:
            if not not_found(e):
                raise unreachable(ws, e) from None
            known = (
                ", ".join(f"{a} -> {v}" for a, v in sorted((model.aliases or {}).items())) or "none"
            )
            raise TrackingError(
                f"model {name!r} has no alias {alias!r} (its aliases: {known})"
            ) from None
    all_versions = versions(ws, name)
    if not all_versions:
        raise TrackingError(f"model {name!r} has no versions")
    if not m_version:
        return all_versions[-1]
    version = m_version.group("version")
    for mv in all_versions:
        if str(mv.version) == version:
            return mv
    raise TrackingError(
        f"model {name!r} has no version {version} "
        f"(its versions: {', '.join(str(mv.version) for mv in all_versions)})"
    )
