"""The quality report as ONE self-contained HTML file, for a person to look at.

Everything is inline: CSS in a style tag, plots as base64 PNG (matplotlib's Agg
canvas, no pyplot, so nothing global changes), thumbnails as base64 JPEG with the
offending boxes drawn in red over the image's other boxes. No script, font or
style sheet is fetched. Thumbnails are capped per code (``thumbnails``) and cut
to the region around the boxes in question, so the file stays a few MB and a
4-pixel box is still visible.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from yolops.data.dataset import ImageRecord
from yolops.data.draw import draw_boxes
from yolops.data.html_page import Markup, render, trusted
from yolops.data.images import read_image
from yolops.errors import ImageReadError
from yolops.issues import Issue
from yolops.quality.checks import DUPLICATE_OF
from yolops.quality.drift import DriftReport
from yolops.quality.schema import BOX_MEASURES, box_measures
from yolops.quality.validate import QualityReport

THUMB_SIDE = 256  # px: the longer side of a thumbnail
THUMB_QUALITY = 80  # JPEG quality of thumbnails
ROWS_PER_CODE = 200  # issues listed in each code's table (the JSON has all of them)
OFFENDING = (230, 20, 20)  # RGB: the boxes an issue is about
CONTEXT = (160, 160, 160)  # RGB: the image's other boxes
MODEL = (20, 110, 255)  # RGB: the model's box behind a label-error verdict
REF_COLOR, CUR_COLOR = "#7f8c9a", "#d9534f"


def write_html(
    report: QualityReport, path: str | Path, thumbnails: int = 12, fail_on: str | None = None
) -> Path:
    """Write ``report`` as one HTML file at ``path``; ``thumbnails`` per issue code at
    most. With ``fail_on`` the header says whether the gate passed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, thumbnails, fail_on), encoding="utf-8")
    return path


_PAGE = """{% extends "page.html" %}
{% macro sev(severity) %}<span class='sev {{ severity }}'>{{ severity }}</span>{% endmacro %}
{% block body %}
<h1>{{ title }}</h1>\
<div class='meta'>{{ ds.images }} images · {{ ds.boxes }} boxes · {{ ds.classes }} classes · \
schema {{ schema_source }}\
{% if drift %} · drift against {{ drift.reference }}: {{ drift.drifted }} feature(s) \
drifted{% endif %}\
 · {{ when }} · {{ "%.1f"|format(seconds) }} s</div>\
<div class='cards'>\
{% for severity, n in counts %}<div class='card {{ severity }}'><b>{{ n }}</b>\
{{ severity }}{{ "s" if n != 1 else "" }}</div>{% endfor %}\
{% if gate %}<div class='card {{ "gate-fail" if gate.failed else "gate-pass" }}'>\
<b>{{ "FAILED" if gate.failed else "PASSED" }}</b>gate: fail on {{ gate.fail_on }}</div>{% endif %}\
</div>
<section id='issues'><h2>Issues by code</h2>
{% if not groups %}
<p>No issues found.</p>
{% else %}
<table><tr><th>severity</th><th>code</th><th>count</th><th>first example</th></tr>
{% for g in groups %}
<tr><td>{{ sev(g.worst) }}</td><td><a href='#code-{{ g.code }}'>{{ g.code }}</a></td>\
<td class='num'>{{ g.rows_total }}</td><td>{{ g.rows[0].where }}: {{ g.rows[0].message }}</td></tr>
{% endfor %}
</table>
{% endif %}
</section>
{% for g in groups %}
<section id='code-{{ g.code }}'><h3>{{ g.code }} ({{ g.rows_total }})</h3>
{% if g.figures %}
<div class='gallery'>
{% for f in g.figures %}
<figure{% if f.images|length > 1 %} style='width:{{ 260 * f.images|length }}px'{% endif %}>\
<div class='pair'>{% for uri, alt in f.images %}<img src='{{ uri }}' alt='{{ alt }}'>\
{% endfor %}</div>\
<figcaption><b>{{ f.image_id }}</b> {{ f.location }}<br>{{ f.message }}\
{% if f.legend %}<br><i>red: the label · blue: the model</i>{% endif %}</figcaption></figure>
{% endfor %}
</div>
{% endif %}
<details{{ " open" if not g.figures else "" }}><summary>all {{ g.rows_total }} issue(s)</summary>
<table><tr><th>severity</th><th>where</th><th>message</th></tr>
{% for row in g.rows %}
<tr><td>{{ sev(row.severity) }}</td><td>{{ row.where }}</td><td>{{ row.message }}</td></tr>
{% endfor %}
</table>
{% if g.rows_total > g.rows|length %}
<p>… and {{ g.rows_total - g.rows|length }} more (see the JSON report).</p>
{% endif %}
</details></section>
{% endfor %}
<section id='dataset'><h2>Dataset</h2>
<table><tr><th>class</th>\
{% for split, images in splits %}<th>{{ split }} ({{ images }} img)</th>{% endfor %}\
<th>boxes</th><th>images</th></tr>
{% for c in class_rows %}
<tr><td>{{ c.name }}</td>{% for n in c.per_split %}<td class=num>{{ n }}</td>{% endfor %}\
<td class=num>{{ c.boxes }}</td><td class=num>{{ c.images }}</td></tr>
{% endfor %}
</table>
{% for plot in plots %}{{ plot }}{% endfor %}
</section>
<section id='schema'><h2>Schema</h2>
<p>Schema {{ schema.source }}. Images: formats {{ schema.formats }}, modes {{ schema.modes }}, \
width {{ schema.width }} px, height {{ schema.height }} px; \
boxes per image {{ schema.boxes_per_image }}.</p>
<table><tr><th>class</th><th>share</th><th>width (px)</th><th>height (px)</th>\
<th>area (px²)</th><th>aspect (w/h)</th></tr>
{% for name, share, ranges in schema.classes %}
<tr><td>{{ name }}</td><td class=num>{{ "%.1f%%"|format(share * 100) }}</td>\
{% for r in ranges %}<td>{{ r }}</td>{% endfor %}</tr>
{% endfor %}
</table>
</section>
{% if drift %}
<section id='drift'><h2>Drift</h2>
{{ drift.html }}
</section>
{% endif %}
{% endblock %}
"""


def render_html(report: QualityReport, thumbnails: int = 12, fail_on: str | None = None) -> str:
    ds, s = report.dataset, report.stats
    drift = None
    if report.drift is not None:
        drift = {
            "reference": report.drift.reference,
            "drifted": len(report.drift.drifted),
            "html": drift_html(report.drift),
        }
    plots = [plot_html(_box_figure(ds), "box statistics")]
    if report.image_stats:
        plots.append(plot_html(_image_figure(report.image_stats), "image statistics"))
    return render(
        _PAGE,
        title=f"Quality report: {ds.name}",
        css=trusted(CSS),
        ds={"images": len(ds), "boxes": ds.num_boxes, "classes": ds.num_classes},
        schema_source=report.schema_source,
        drift=drift,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        seconds=sum(report.seconds.values()),
        counts=list(report.counts_by_severity().items()),
        gate=({"failed": report.exit_code(fail_on) != 0, "fail_on": fail_on} if fail_on else None),
        groups=[_group(report, code, items, thumbnails) for code, items in _groups(report.issues)],
        splits=[(x, s.images_per_split[x]) for x in s.splits],
        class_rows=[
            {
                "name": c,
                "per_split": [s.boxes_per_class_per_split[c][x] for x in s.splits],
                "boxes": s.boxes_per_class[c],
                "images": s.images_per_class[c],
            }
            for c in s.class_names
        ],
        plots=plots,
        schema=_schema(report),
    )


# -- layout -----------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;\
max-width:1200px;
     padding:24px;color:#1f2328;background:#fafbfc}
h1{margin:0 0 4px}h2{border-bottom:2px solid #d0d7de;padding-bottom:4px;margin-top:36px}
.meta{color:#57606a}.cards{display:flex;gap:12px;margin:16px 0}
.card{flex:1;border-radius:8px;padding:12px 16px;color:#fff}.card b{font-size:28px;display:block}
.error{background:#cf222e}.warning{background:#bf8700}.info{background:#6e7781}
.gate-pass{background:#1a7f37}.gate-fail{background:#cf222e}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:14px;background:#fff}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right}
.sev{border-radius:4px;padding:1px 6px;color:#fff;font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:260px;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px}
figure img{display:block;max-width:256px;max-height:256px;margin:auto}
div.pair{display:flex;gap:4px;justify-content:center}
figcaption{font-size:12px;color:#57606a;word-break:break-word}
img.plot{max-width:100%;background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:6px 0}
tr.drifted td{background:#ffebe9}details{margin:8px 0}summary{cursor:pointer;color:#0969da}
"""


_SECTION = """<section id='{{ anchor }}'><h2>{{ title }}</h2>
{{ content }}
</section>"""


def section(title: str, anchor: str, content: Markup) -> Markup:
    """A titled section around ``content`` (rendered HTML; a plain string is escaped)."""
    return render(_SECTION, title=title, anchor=anchor, content=content)


def _groups(issues: Sequence[Issue]) -> list[tuple[str, list[Issue]]]:
    groups: dict[str, list[Issue]] = defaultdict(list)
    for i in issues:
        groups[i.code].append(i)
    return sorted(groups.items(), key=lambda kv: (-max(i.severity.rank for i in kv[1]), kv[0]))


def _where(issue: Issue) -> str:
    where = issue.path or "<dataset>"
    return f"{where} ({issue.location})" if issue.location else where


def _group(report: QualityReport, code: str, items: list[Issue], thumbnails: int) -> dict:
    """One issue code: its worst severity, its first rows and its figures."""
    figures = [f for f in (_figure(report, i) for i in items[: thumbnails * 4]) if f]
    return {
        "code": code,
        "worst": max((i.severity for i in items), key=lambda s: s.rank).value,
        "rows_total": len(items),
        "rows": [
            {"severity": i.severity.value, "where": _where(i), "message": i.message}
            for i in items[:ROWS_PER_CODE]
        ],
        "figures": figures[:thumbnails],
    }


# -- thumbnails --------------------------------------------------------------------------------


def _figure(report: QualityReport, issue: Issue) -> dict | None:
    """A figure for one issue: its image's thumbnail (and the other image's, for a
    duplicate) with a caption; None when there is no image to show."""
    ids = [issue.image_id]
    if issue.location and issue.location.startswith(DUPLICATE_OF):
        ids.append(issue.location[len(DUPLICATE_OF) :])
    images = []
    names = report.dataset.class_names
    for image_id in ids:
        record = report.dataset[image_id] if image_id in report.dataset else None
        if record is None or (report.image_stats and record.id not in report.image_stats):
            continue  # no such image, or one validation could not decode
        mine = image_id == issue.image_id
        offending = _boxes_of(issue, record) if mine else (np.zeros((0, 4)), None)
        uri = _thumbnail(record, names, offending, _model_box(issue, names) if mine else None)
        if uri:
            images.append((uri, record.id))
    if not images:
        return None
    return {
        "images": images,
        "image_id": issue.image_id,
        "location": issue.location or "",
        "message": issue.message,
        "legend": hasattr(issue, "predicted_box"),
    }


def _model_box(issue: Issue, class_names: Sequence[str]) -> tuple[np.ndarray, str] | None:
    """The model's box behind a label-error issue (xyxy (1, 4)) and its caption."""
    box = getattr(issue, "predicted_box", None)
    if box is None:
        return None
    cls = issue.predicted_class
    name = class_names[cls] if cls is not None and 0 <= cls < len(class_names) else "?"
    return np.array([box], np.float32), f"model: {name} {issue.predicted_score:.2f}"


_BOX_INDEX = re.compile(r"\d+")
_NUMBER = r"\s*(-?[\d.]+(?:[eE][-+]?\d+)?)\s*"
# Boxes the loaders set aside are named in their messages, as "[x1, y1, x2, y2]"
# (YOLO, COCO) or "xmin=.., ymin=.., xmax=.., ymax=.." (VOC).
_COORDS = (
    re.compile(r"\[" + ",".join([_NUMBER] * 4) + r"\]"),
    re.compile(
        r"xmin="
        + _NUMBER
        + r",\s*ymin="
        + _NUMBER
        + r",\s*xmax="
        + _NUMBER
        + r",\s*ymax="
        + _NUMBER
    ),
)


def _boxes_of(issue: Issue, record: ImageRecord) -> tuple[np.ndarray, np.ndarray | None]:
    """The xyxy boxes (K, 4) an issue is about and their classes (K,): by index from a
    ``box 3`` / ``boxes 3 and 7`` location, else from coordinates in the message
    (boxes the loader set aside are not in the record; their class is unknown, None);
    (0, 4) for an issue about the whole image. A label-error issue names its box by
    index, or none (a missing box: only the model's box is drawn)."""
    if hasattr(issue, "predicted_box"):
        idx = [issue.box] if issue.box is not None and issue.box < len(record) else []
        return record.boxes[idx].reshape(-1, 4), record.classes[idx]
    if issue.location and issue.location.startswith("box"):
        idx = [int(k) for k in _BOX_INDEX.findall(issue.location) if int(k) < len(record)]
        return record.boxes[idx].reshape(-1, 4), record.classes[idx]
    for pattern in _COORDS:
        found = pattern.findall(issue.message)[:1]
        if found:
            return np.array(found, np.float32).reshape(-1, 4), None
    return np.zeros((0, 4), np.float32), None


def _thumbnail(
    record: ImageRecord,
    class_names: Sequence[str],
    offending: tuple[np.ndarray, np.ndarray | None],
    model: tuple[np.ndarray, str] | None = None,
) -> str | None:
    """A base64 JPEG data URI: the image, or the region around the offending boxes
    (and the model's box, when given), scaled to ``THUMB_SIDE`` px (enlarged at most
    4x), the record's other boxes in grey, the offending ones in red with their class,
    the model's in blue with its caption; None when unreadable."""
    try:
        image = read_image(record.path)
    except ImageReadError:
        return None
    boxes, classes = offending
    around = boxes if model is None else np.concatenate([boxes.reshape(-1, 4), model[0]])
    x0, y0, x1, y1 = _region(around, image.shape[1], image.shape[0])
    crop = image[y0:y1, x0:x1]
    scale = min(THUMB_SIDE / max(crop.shape[:2]), 4.0)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    thumb = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    shift = np.array([x0, y0, x0, y0], np.float32)
    # Class 0 of the names ("",) has an empty label, so context boxes carry no text.
    thumb = draw_boxes(
        thumb,
        (record.boxes - shift) * scale,
        np.zeros(len(record), np.int64),
        ("",),
        color=CONTEXT,
        thickness=1,
    )
    if len(boxes):
        names = class_names if classes is not None else ("",)
        classes = classes if classes is not None else np.zeros(len(boxes), np.int64)
        drawn = (boxes - shift) * scale
        thumb = draw_boxes(
            thumb, drawn, classes, names, color=OFFENDING, thickness=2, font_scale=0.4
        )
        for x1, y1, x2, y2 in drawn[
            (drawn[:, 2] - drawn[:, 0] < 3) | (drawn[:, 3] - drawn[:, 1] < 3)
        ]:
            # a (near-)degenerate box is a dot or a line: ring it so it can be found
            cv2.circle(thumb, (round((x1 + x2) / 2), round((y1 + y2) / 2)), 12, OFFENDING, 2)
    if model is not None:
        drawn = (model[0] - shift) * scale
        thumb = draw_boxes(thumb, drawn, np.zeros(1, np.int64), ("",), color=MODEL, thickness=2)
        _label_below(thumb, drawn[0], model[1], MODEL)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY]
    )
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else None


def _label_below(
    image: np.ndarray, box: np.ndarray, text: str, color: tuple[int, int, int]
) -> None:
    """``text`` on a filled strip under ``box``, in place: the label's own class is
    written above the box, often at the very same spot."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (w, h), base = cv2.getTextSize(text, font, scale, 1)
    x = int(min(max(box[0], 0), max(image.shape[1] - w - 4, 0)))
    y = int(min(max(box[3], 0), image.shape[0] - h - base - 4))
    cv2.rectangle(image, (x, y), (x + w + 4, y + h + base + 4), color, cv2.FILLED)
    cv2.putText(image, text, (x + 2, y + h + 2), font, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _region(boxes: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The integer crop (x0, y0, x1, y1) around ``boxes``: their extent grown by its own
    size on each side and to at least 96 px; the whole image when there are none."""
    if len(boxes) == 0 or not np.all(np.isfinite(boxes)):
        return 0, 0, width, height
    bx0, by0 = boxes[:, [0, 2]].min(), boxes[:, [1, 3]].min()
    bx1, by1 = boxes[:, [0, 2]].max(), boxes[:, [1, 3]].max()
    grow_x = max(bx1 - bx0, (96 - (bx1 - bx0)) / 2, 8)
    grow_y = max(by1 - by0, (96 - (by1 - by0)) / 2, 8)
    x0, x1 = int(max(0, math.floor(bx0 - grow_x))), int(min(width, math.ceil(bx1 + grow_x)))
    y0, y1 = int(max(0, math.floor(by0 - grow_y))), int(min(height, math.ceil(by1 + grow_y)))
    if x1 <= x0 or y1 <= y0:  # the boxes lie outside the image: show all of it
        return 0, 0, width, height
    return x0, y0, x1, y1


# -- plots ----------------------------------------------------------------------------------------


_PLOT = "<img class='plot' src='{{ uri }}' alt='{{ alt }}'>"


def plot_html(fig: Figure, alt: str) -> Markup:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=72)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return render(_PLOT, uri=uri, alt=alt)


def _box_figure(ds) -> Figure:
    """Boxes per class, boxes per image, and per class histograms of box area and aspect."""
    fig = Figure(figsize=(14, 6.5))
    # Fixed spacing: tight_layout costs a full extra draw per figure.
    axes = fig.subplots(
        2,
        3,
        gridspec_kw=dict(hspace=0.35, wspace=0.25, left=0.05, right=0.98, top=0.94, bottom=0.07),
    )
    counts = ds.class_counts()
    axes[0, 0].bar(list(counts), list(counts.values()), color="#4c72b0")
    axes[0, 0].set_title("boxes per class")
    per_image = [len(r) for r in ds]
    axes[0, 1].hist(
        per_image,
        bins=min(40, max(per_image, default=0) + 1),
        color="#4c72b0",
        histtype="stepfilled",
    )
    axes[0, 1].set_title("boxes per image")
    boxes = np.concatenate([r.boxes for r in ds] or [np.zeros((0, 4), np.float32)])
    classes = np.concatenate([r.classes for r in ds] or [np.zeros(0, np.int64)])
    m = box_measures(boxes)
    for ax, measure in zip([axes[0, 2], *axes[1]], BOX_MEASURES):
        values = m[measure][m["proper"]]
        if len(values):
            edges = np.geomspace(max(values.min(), 1e-3), max(values.max(), 1e-3) * 1.001, 30)
            for k, name in enumerate(ds.class_names):
                mine = values[classes[m["proper"]] == k]
                if len(mine):
                    ax.hist(mine, bins=edges, histtype="step", linewidth=1.5, label=name)
            ax.set_xscale("log")
            # 10, 20, 50, 100, ... as plain numbers; minor labels would overlap
            ax.xaxis.set_major_locator(
                LogLocator(subs=(1.0,) if measure == "area" else (1.0, 2.0, 5.0))
            )
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=8)
        ax.set_title(
            f"box {measure}" + {"area": " (px²)", "aspect": " (w/h)"}.get(measure, " (px)")
        )
    return fig


def _image_figure(stats) -> Figure:
    names = ("brightness", "contrast", "sharpness", "entropy")
    fig = Figure(figsize=(14, 3))
    axes = fig.subplots(
        1, 4, gridspec_kw=dict(wspace=0.25, left=0.05, right=0.98, top=0.88, bottom=0.12)
    )
    for ax, name in zip(axes, names):
        ax.hist([s[name] for s in stats.values()], bins=30, color="#55a868", histtype="stepfilled")
        ax.set_title(f"image {name}")
    return fig


def _schema(report: QualityReport) -> dict:
    sc = report.schema
    source = {
        "given": "given by the user",
        "reference": "inferred from the reference dataset",
        "inferred": "inferred from this dataset (findings against it are outliers, at info level)",
    }[report.schema_source]
    return {
        "source": source,
        "formats": ", ".join(sc.image_formats) or "-",
        "modes": ", ".join(sc.image_modes) or "-",
        "width": sc.image_width,
        "height": sc.image_height,
        "boxes_per_image": sc.boxes_per_image,
        "classes": [
            (name, c.share, [c.range_of(m) for m in BOX_MEASURES]) for name, c in sc.classes.items()
        ],
    }


_DRIFT = """<p>Current {{ drift.current }} against reference {{ drift.reference }}. \
A feature drifts when its statistic exceeds the threshold and its test's p-value is below \
alpha.</p>
<table><tr><th>feature</th><th>drifted</th><th>statistic</th><th>value</th><th>threshold</th>\
<th>test</th><th>p-value</th><th>reference n</th><th>current n</th><th>change</th></tr>
{% for f in drift.features %}
<tr class='{{ "drifted" if f.drifted else "" }}'><td>{{ f.feature }}</td>\
<td>{% if f.drifted %}<b>drifted</b>{% else %}no{% endif %}</td><td>{{ f.statistic }}</td>\
<td class=num>{{ fmt(f.value) }}</td><td class=num>{{ "%g"|format(f.threshold) }}</td>\
<td>{{ f.test }}</td><td class=num>{{ fmt(f.p_value) }}</td><td class=num>{{ f.reference_n }}</td>\
<td class=num>{{ f.current_n }}</td><td>{{ f.change }}</td></tr>
{% endfor %}
</table>
{{ plot }}"""


def drift_html(drift: DriftReport) -> Markup:
    """The drift table, feature by feature, and the distributions plotted."""
    plot = plot_html(_drift_figure(drift), "reference vs current distributions")
    return render(_DRIFT, drift=drift, fmt=_fmt, plot=plot)


def _drift_figure(drift: DriftReport) -> Figure:
    features = [f for f in drift.features if f.reference_n and f.current_n]
    cols = 4
    rows = max(1, math.ceil(len(features) / cols))
    fig = Figure(figsize=(14, 2.8 * rows))
    grid = dict(
        hspace=0.45, wspace=0.25, left=0.05, right=0.98, top=1 - 0.3 / rows, bottom=0.25 / rows
    )
    axes = np.atleast_1d(fig.subplots(rows, cols, gridspec_kw=grid)).reshape(-1)
    for ax, f in zip(axes, features):
        if f.labels:  # class mix: shares side by side
            x = np.arange(len(f.labels))
            ax.bar(
                x - 0.2, f.reference / f.reference.sum(), 0.4, color=REF_COLOR, label="reference"
            )
            ax.bar(x + 0.2, f.current / f.current.sum(), 0.4, color=CUR_COLOR, label="current")
            ax.set_xticks(x, f.labels, fontsize=8)
        else:
            both = np.concatenate([f.reference, f.current])
            edges = np.histogram_bin_edges(both, bins=30)
            ax.hist(
                f.reference,
                bins=edges,
                density=True,
                alpha=0.55,
                color=REF_COLOR,
                label="reference",
                histtype="stepfilled",
            )
            ax.hist(
                f.current,
                bins=edges,
                density=True,
                alpha=0.55,
                color=CUR_COLOR,
                label="current",
                histtype="stepfilled",
            )
        ax.set_title(
            f"{f.feature}{' — DRIFTED' if f.drifted else ''}",
            color="#cf222e" if f.drifted else "black",
            fontsize=10,
        )
        ax.legend(fontsize=7)
    for ax in axes[len(features) :]:
        ax.axis("off")
    return fig


def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"
