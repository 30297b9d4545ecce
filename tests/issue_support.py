"""Finding the issues a load reported, as the format tests do."""

from __future__ import annotations


def issues_with(ds, code: str) -> list:
    """The issues of ``ds`` with ``code``."""
    return [i for i in ds.issues if i.code == code]


def one_issue(ds, code: str):
    """The one issue of ``ds`` with ``code``; fails, listing them all, otherwise."""
    found = issues_with(ds, code)
    assert len(found) == 1, f"{code}: {[str(i) for i in ds.issues]}"
    return found[0]
