"""Checks of the HTML reports against markup injected through names: a class, file,
run or tag name like :data:`XSS` must come out as text, never as a tag."""

from __future__ import annotations

from html.parser import HTMLParser

XSS = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def injected_attributes(html: str) -> list[dict]:
    """The attributes of every tag in ``html`` that the injected markup would have
    made (an ``onerror`` handler, or ``src=x``): empty when the page is safe."""
    found: list[dict] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append(dict(attrs))

    Tags().feed(html)
    return [a for a in found if "onerror" in a or a.get("src") == "x"]
