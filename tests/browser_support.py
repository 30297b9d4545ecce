"""Headless Chromium for the browser tests: Playwright for Python driving the
distribution's Chromium (Debian: `apt-get install chromium`) through
``executable_path``. Playwright's own browser downloads are never used (`playwright
install` cannot reach its servers here). The ``chromium`` and ``browser_page``
fixtures in conftest.py are built from these pieces; they skip when Playwright or
Chromium is missing, which the CI hook in conftest.py turns into a failure."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

# Root (CI containers) needs --no-sandbox; the rest keep a test run offline and quiet.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
)
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The Chromium executable on PATH (Debian's /usr/bin/chromium), or None."""
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def missing() -> str | None:
    """Why no browser test can run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "Chromium is not installed (Debian: apt-get install chromium)"
    return None


@dataclass
class BrowserPage:
    """A fresh page, and what went wrong on it: console errors, uncaught exceptions and
    failed requests, in the order they happened."""

    page: Any  # playwright.sync_api.Page
    errors: list[str] = field(default_factory=list)


def watch(page: Any) -> BrowserPage:
    """``page`` with its errors collected as they happen."""
    browsed = BrowserPage(page)
    page.on(
        "console",
        lambda m: m.type == "error" and browsed.errors.append(f"console: {m.text}"),
    )
    page.on("pageerror", lambda e: browsed.errors.append(f"uncaught: {e}"))
    page.on(
        "requestfailed",
        lambda r: browsed.errors.append(f"request failed: {r.url[:120]} {r.failure}"),
    )
    return browsed
