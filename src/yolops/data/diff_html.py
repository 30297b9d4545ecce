"""A dataset diff as one self-contained HTML page: the counts, boxes per class before
and after, and every changed image (up to a limit) side by side, before and after,
with removed boxes in red, added in green and moved or relabelled in orange."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np

from yolops.data.diff import DatasetDiff, ImageChange
from yolops.data.draw import draw_boxes
from yolops.data.html_page import render, trusted
from yolops.data.images import read_image
from yolops.errors import ImageReadError

RED, GREEN, ORANGE, GREY = (207, 34, 46), (26, 127, 55), (191, 135, 0), (140, 149, 159)
SIDE = 360  # longest side of each picture, in pixels

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:24px;color:#1f2328;background:#fafbfc}
h2{border-bottom:2px solid #d0d7de;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0;font-size:14px;background:#fff}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left}th{background:#f6f8fa}
td.num{text-align:right}.up{color:#1a7f37}.down{color:#cf222e}
.change{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px;margin:10px 0}
.pair{display:flex;gap:8px}.pair figure{margin:0}.pair img{max-width:100%}
figcaption{font-size:12px;color:#57606a}.legend span{margin-right:14px}
"""


def write_diff_html(diff: DatasetDiff, path: Path | str, limit: int = 200) -> Path:
    """Write the page; at most ``limit`` changed images get pictures."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_diff_html(diff, limit), encoding="utf-8")
    return path


_PAGE = """{% extends "page.html" %}
{% block body %}
<h1>{{ title }}</h1>
<table>
{% for key, value in summary %}
<tr><th>{{ key }}</th><td class='num'>{{ value }}</td></tr>
{% endfor %}
</table>
<h2>Boxes per class</h2>
<table><tr><th>class</th><th>before</th><th>after</th><th>change</th></tr>
{% for c in classes %}
<tr><td>{{ c.name }}</td><td class='num'>{{ c.before }}</td><td class='num'>{{ c.after }}</td>\
<td class='num{{ " up" if c.change > 0 else " down" if c.change < 0 else "" }}'>\
{{ "%+d"|format(c.change) if c.change else "0" }}</td></tr>
{% endfor %}
</table>
<h2>Changed images ({{ total }})</h2>
<p class='legend'><span style='color:#cf222e'>&#9632; removed</span>\
<span style='color:#1a7f37'>&#9632; added</span>\
<span style='color:#bf8700'>&#9632; moved or relabelled</span>\
<span style='color:#8c959f'>&#9632; unchanged</span></p>
{% for change in changes %}
<div class='change'><b>{{ change.image_id }}</b>: {{ change.description }}<div class='pair'>
{% for picture in change.pictures %}
<figure>{% if picture.src %}<img src='{{ picture.src }}' alt=''>\
{% else %}<p>{{ picture.problem }}</p>{% endif %}\
<figcaption>{{ picture.caption }}</figcaption></figure>
{% endfor %}
</div></div>
{% endfor %}
{% if total > changes|length %}
<p>{{ total - changes|length }} more changed images are not shown (limit {{ limit }}).</p>
{% endif %}
{% endblock %}
"""


def render_diff_html(diff: DatasetDiff, limit: int = 200) -> str:
    boxes = diff.box_totals()
    summary = [
        ("images added", len(diff.added)),
        ("images removed", len(diff.removed)),
        ("images changed", len(diff.changed)),
        ("images unchanged", diff.unchanged),
        *((f"boxes {k}", v) for k, v in boxes.items()),
    ]
    return render(
        _PAGE,
        title=f"Dataset diff: {diff.before} -> {diff.after}",
        css=trusted(CSS),
        summary=summary,
        classes=diff.classes,
        total=len(diff.changes),
        limit=limit,
        changes=[_change(c, diff) for c in diff.changes[:limit]],
    )


def _change(change: ImageChange, diff: DatasetDiff) -> dict:
    pictures = []
    if change.before is not None:
        pictures.append(
            _figure(_before(change, diff.class_names_before), f"before ({diff.before})")
        )
    if change.after is not None:
        pictures.append(_figure(_after(change, diff.class_names_after), f"after ({diff.after})"))
    return {"image_id": change.image_id, "description": change.describe(), "pictures": pictures}


def _colors(n: int, marked: dict[int, tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    return [marked.get(i, GREY) for i in range(n)]


def _before(change: ImageChange, names: tuple[str, ...]) -> str | np.ndarray:
    record, b = change.before, change.boxes
    marked = {i: RED for i in b.removed} if change.kind == "changed" else {}
    if change.kind == "removed":
        marked = {i: RED for i in range(len(record))}
    marked.update({i: ORANGE for i, _ in (*b.moved, *b.relabelled)})
    return _draw(record, names, _colors(len(record), marked))


def _after(change: ImageChange, names: tuple[str, ...]) -> str | np.ndarray:
    record, b = change.after, change.boxes
    marked = {j: GREEN for j in b.added}
    if change.kind == "added":
        marked = {j: GREEN for j in range(len(record))}
    marked.update({j: ORANGE for _, j in (*b.moved, *b.relabelled)})
    return _draw(record, names, _colors(len(record), marked))


def _draw(record, names, colors) -> str | np.ndarray:
    """The image with its boxes, each in its colour; or why it cannot be shown."""
    try:
        image = read_image(record.path)
    except ImageReadError as e:
        return f"cannot read image: {e.reason}"
    h, w = image.shape[:2]
    scale = min(1.0, SIDE / max(h, w))  # shrink first, so that labels stay legible
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), cv2.INTER_AREA)
    for box, cls, color in zip(record.boxes * scale, record.classes, colors):
        image = draw_boxes(image, box[None], np.array([cls]), names, color=color, thickness=1)
    return image


def _figure(picture: str | np.ndarray, caption: str) -> dict:
    """A picture as a JPEG data URI (``src``), or why there is none (``problem``)."""
    if isinstance(picture, str):
        return {"src": "", "problem": picture, "caption": caption}
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    src = "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""
    return {"src": src, "problem": "" if ok else "cannot encode the image", "caption": caption}
