"""HTML from Jinja2 templates with autoescape: the one way yolops writes its reports
(quality, monitoring, runs, dataset diffs).

Every value a template prints is escaped unless it is :class:`~markupsafe.Markup`, so
that a class name, file name, message or run name like ``<img src=x onerror=alert(1)>``
shows as text and never becomes markup; no report calls ``html.escape`` by hand. A
fragment rendered here (a table, a plot) is Markup, so a template that prints it does
not escape it twice. Templates are strings in the modules that use them: nothing to
ship as package data. :data:`PAGE` is the frame they extend.
"""

from __future__ import annotations

from functools import cache

from jinja2 import DictLoader, Environment, StrictUndefined, Template
from markupsafe import Markup  # jinja2's own dependency; reports import it from here

__all__ = ["PAGE", "Markup", "render", "template", "trusted"]

# The frame of a self-contained page; a report's template extends it and fills ``body``.
# ``css`` is the report's own constant style sheet, given as Markup (a <style> element is
# raw text: entities there would not be decoded).
PAGE = """<!DOCTYPE html>
<html lang='en'><head><meta charset='utf-8'>
<title>{{ title }}</title><style>{{ css }}</style></head><body>
{% block body %}{% endblock %}
</body></html>
"""

_ENV = Environment(
    loader=DictLoader({"page.html": PAGE}),
    autoescape=True,
    undefined=StrictUndefined,  # a misspelt name fails the render, never prints nothing
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@cache
def template(source: str) -> Template:
    """The compiled template of ``source`` (compiled once per process)."""
    return _ENV.from_string(source)


def render(source: str, **context: object) -> Markup:
    """``source`` rendered with ``context``, every value escaped; Markup, so that it can
    be printed by another template as it is."""
    return Markup(template(source).render(**context))


def trusted(text: str) -> Markup:
    """A constant of the code (a style sheet) that a template prints as it is. Never for
    data: anything from a dataset, a run or a request is printed escaped."""
    return Markup(text)
