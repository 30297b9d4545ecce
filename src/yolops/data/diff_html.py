"""A dataset diff as one self-contained HTML page: the counts, boxes per class before
and after, and every changed image (up to a limit) side by side, before and after,
with removed boxes in red, added in green and moved or relabelled in orange."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

import cv2
import numpy as np

from yolops.data.diff import DatasetDiff, ImageChange
from yolops.data.draw import draw_boxes
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


def render_diff_html(diff: DatasetDiff, limit: int = 200) -> str:
    title = f"Dataset diff: {diff.before} -> {diff.after}"
    changes = diff.changes
    shown = changes[:limit]
    more = (
        f"<p>{len(changes) - len(shown)} more changed images are not shown (limit {limit}).</p>"
        if len(changes) > len(shown)
        else ""
    )
    body = [
        f"<h1>{escape(title)}</h1>",
        _summary(diff),
        "<h2>Boxes per class</h2>",
        _classes(diff),
        f"<h2>Changed images ({len(changes)})</h2>",
        "<p class='legend'><span style='color:#cf222e'>&#9632; removed</span>"
        "<span style='color:#1a7f37'>&#9632; added</span>"
        "<span style='color:#bf8700'>&#9632; moved or relabelled</span>"
        "<span style='color:#8c959f'>&#9632; unchanged</span></p>",
        *(_change(c, diff) for c in shown),
        more,
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _summary(diff: DatasetDiff) -> str:
    boxes = diff.box_totals()
    rows = [
        ("images added", len(diff.added)),
        ("images removed", len(diff.removed)),
        ("images changed", len(diff.changed)),
        ("images unchanged", diff.unchanged),
        *((f"boxes {k}", v) for k, v in boxes.items()),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{v}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _classes(diff: DatasetDiff) -> str:
    head = "<tr><th>class</th><th>before</th><th>after</th><th>change</th></tr>"
    rows = []
    for c in diff.classes:
        sign = "up" if c.change > 0 else "down" if c.change < 0 else ""
        change = f"{c.change:+d}" if c.change else "0"
        rows.append(
            f"<tr><td>{escape(c.name)}</td><td class='num'>{c.before}</td>"
            f"<td class='num'>{c.after}</td><td class='num {sign}'>{change}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _change(change: ImageChange, diff: DatasetDiff) -> str:
    pictures = []
    if change.before is not None:
        pictures.append(
            _figure(_before(change, diff.class_names_before), f"before ({diff.before})")
        )
    if change.after is not None:
        pictures.append(_figure(_after(change, diff.class_names_after), f"after ({diff.after})"))
    return (
        f"<div class='change'><b>{escape(change.image_id)}</b>: {escape(change.describe())}"
        f"<div class='pair'>{''.join(pictures)}</div></div>"
    )


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


def _figure(picture: str | np.ndarray, caption: str) -> str:
    if isinstance(picture, str):
        return (
            f"<figure><p>{escape(picture)}</p><figcaption>{escape(caption)}</figcaption></figure>"
        )
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    src = "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else ""
    return f"<figure><img src='{src}' alt=''><figcaption>{escape(caption)}</figcaption></figure>"
