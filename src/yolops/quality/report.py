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
import html
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
from yolops.data.images import read_image
from yolops.errors import ImageReadError
from yolops.issues import Issue, Severity
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


def render_html(report: QualityReport, thumbnails: int = 12, fail_on: str | None = None) -> str:
    ds = report.dataset
    body = [
        _header(report, fail_on),
        section("Issues by code", "issues", _issue_table(report)),
        *(_code_section(report, code, items, thumbnails) for code, items in _groups(report.issues)),
        section("Dataset", "dataset", _stats_html(report)),
        section("Schema", "schema", _schema_html(report)),
    ]
    if report.drift is not None:
        body.append(section("Drift", "drift", drift_html(report.drift)))
    title = f"Quality report: {ds.name}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
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


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def section(title: str, anchor: str, content: str) -> str:
    return f"<section id='{escape(anchor)}'><h2>{escape(title)}</h2>\n{content}\n</section>"


def _sev(severity: Severity) -> str:
    return f"<span class='sev {severity.value}'>{severity.value}</span>"


def _header(report: QualityReport, fail_on: str | None) -> str:
    ds, counts = report.dataset, report.counts_by_severity()
    cards = [
        f"<div class='card {s}'><b>{n}</b>{s}{'s' if n != 1 else ''}</div>"
        for s, n in counts.items()
    ]
    if fail_on:
        failed = report.exit_code(fail_on) != 0
        verdict = "FAILED" if failed else "PASSED"
        cards.append(
            f"<div class='card {'gate-fail' if failed else 'gate-pass'}'><b>{verdict}</b>"
            f"gate: fail on {escape(fail_on)}</div>"
        )
    drift = ""
    if report.drift is not None:
        n = len(report.drift.drifted)
        drift = f" · drift against {escape(report.drift.reference)}: {n} feature(s) drifted"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seconds = sum(report.seconds.values())
    return (
        f"<h1>Quality report: {escape(ds.name)}</h1>"
        f"<div class='meta'>{len(ds)} images · {ds.num_boxes} boxes · {ds.num_classes} classes · "
        f"schema {escape(report.schema_source)}{drift} · {when} · {seconds:.1f} s</div>"
        f"<div class='cards'>{''.join(cards)}</div>"
    )


def _groups(issues: Sequence[Issue]) -> list[tuple[str, list[Issue]]]:
    groups: dict[str, list[Issue]] = defaultdict(list)
    for i in issues:
        groups[i.code].append(i)
    return sorted(groups.items(), key=lambda kv: (-max(i.severity.rank for i in kv[1]), kv[0]))


def _issue_table(report: QualityReport) -> str:
    if not report.issues:
        return "<p>No issues found.</p>"
    rows = []
    for code, items in _groups(report.issues):
        worst = max((i.severity for i in items), key=lambda s: s.rank)
        rows.append(
            f"<tr><td>{_sev(worst)}</td><td><a href='#code-{escape(code)}'>{escape(code)}</a></td>"
            f"<td class='num'>{len(items)}</td>"
            f"<td>{escape(_where(items[0]))}: {escape(items[0].message)}</td></tr>"
        )
    return (
        "<table><tr><th>severity</th><th>code</th><th>count</th><th>first example</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _where(issue: Issue) -> str:
    where = issue.path or "<dataset>"
    return f"{where} ({issue.location})" if issue.location else where


def _code_section(report: QualityReport, code: str, items: list[Issue], thumbnails: int) -> str:
    gallery = [g for g in (_figure(report, i) for i in items[: thumbnails * 4]) if g][:thumbnails]
    rows = "".join(
        f"<tr><td>{_sev(i.severity)}</td><td>{escape(_where(i))}</td><td>{escape(i.message)}</td></tr>"
        for i in items[:ROWS_PER_CODE]
    )
    more = (
        f"<p>… and {len(items) - ROWS_PER_CODE} more (see the JSON report).</p>"
        if len(items) > ROWS_PER_CODE
        else ""
    )
    table = (
        f"<details{' open' if not gallery else ''}><summary>all {len(items)} issue(s)</summary>"
        f"<table><tr><th>severity</th><th>where</th><th>message</th></tr>{rows}</table>{more}</details>"
    )
    shown = f"<div class='gallery'>{''.join(gallery)}</div>" if gallery else ""
    return (
        f"<section id='code-{escape(code)}'><h3>{escape(code)} ({len(items)})</h3>"
        f"{shown}{table}</section>"
    )


# -- thumbnails --------------------------------------------------------------------------------


def _figure(report: QualityReport, issue: Issue) -> str | None:
    """A figure for one issue: its image's thumbnail (and the other image's, for a
    duplicate) with a caption; None when there is no image to show."""
    ids = [issue.image_id]
    if issue.location and issue.location.startswith(DUPLICATE_OF):
        ids.append(issue.location[len(DUPLICATE_OF) :])
    uris = []
    names = report.dataset.class_names
    for image_id in ids:
        record = report.dataset[image_id] if image_id in report.dataset else None
        if record is None or (report.image_stats and record.id not in report.image_stats):
            continue  # no such image, or one validation could not decode
        mine = image_id == issue.image_id
        offending = _boxes_of(issue, record) if mine else (np.zeros((0, 4)), None)
        uri = _thumbnail(record, names, offending, _model_box(issue, names) if mine else None)
        if uri:
            uris.append(f"<img src='{uri}' alt='{escape(record.id)}'>")
    if not uris:
        return None
    width = f" style='width:{260 * len(uris)}px'" if len(uris) > 1 else ""
    legend = (
        "<br><i>red: the label · blue: the model</i>" if hasattr(issue, "predicted_box") else ""
    )
    return (
        f"<figure{width}><div class='pair'>{''.join(uris)}</div>"
        f"<figcaption><b>{escape(issue.image_id)}</b> {escape(issue.location or '')}"
        f"<br>{escape(issue.message)}{legend}"
        "</figcaption></figure>"
    )


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


def plot_html(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=72)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return f"<img class='plot' src='{uri}' alt='{escape(alt)}'>"


def _stats_html(report: QualityReport) -> str:
    s, ds = report.stats, report.dataset
    rows = "".join(
        f"<tr><td>{escape(c)}</td>"
        f"{''.join(f'<td class=num>{s.boxes_per_class_per_split[c][x]}</td>' for x in s.splits)}"
        f"<td class=num>{s.boxes_per_class[c]}</td><td class=num>{s.images_per_class[c]}</td></tr>"
        for c in s.class_names
    )
    head = "".join(f"<th>{escape(x)} ({s.images_per_split[x]} img)</th>" for x in s.splits)
    table = f"<table><tr><th>class</th>{head}<th>boxes</th><th>images</th></tr>{rows}</table>"
    return (
        table
        + plot_html(_box_figure(ds), "box statistics")
        + (
            plot_html(_image_figure(report.image_stats), "image statistics")
            if report.image_stats
            else ""
        )
    )


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


def _schema_html(report: QualityReport) -> str:
    sc = report.schema
    source = {
        "given": "given by the user",
        "reference": "inferred from the reference dataset",
        "inferred": "inferred from this dataset (findings against it are outliers, at info level)",
    }[report.schema_source]
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=num>{c.share:.1%}</td>"
        + "".join(f"<td>{escape(c.range_of(m))}</td>" for m in BOX_MEASURES)
        + "</tr>"
        for name, c in sc.classes.items()
    )
    return (
        f"<p>Schema {escape(source)}. "
        f"Images: formats {escape(', '.join(sc.image_formats) or '-')}, "
        f"modes {escape(', '.join(sc.image_modes) or '-')}, width {escape(sc.image_width)} px, "
        f"height {escape(sc.image_height)} px; boxes per image {escape(sc.boxes_per_image)}.</p>"
        "<table><tr><th>class</th><th>share</th><th>width (px)</th><th>height (px)</th>"
        f"<th>area (px²)</th><th>aspect (w/h)</th></tr>{rows}</table>"
    )


def drift_html(drift: DriftReport) -> str:
    rows = "".join(
        f"<tr class='{'drifted' if f.drifted else ''}'><td>{escape(f.feature)}</td>"
        f"<td>{'<b>drifted</b>' if f.drifted else 'no'}</td><td>{escape(f.statistic)}</td>"
        f"<td class=num>{_fmt(f.value)}</td><td class=num>{f.threshold:g}</td>"
        f"<td>{escape(f.test)}</td>"
        f"<td class=num>{_fmt(f.p_value)}</td><td class=num>{f.reference_n}</td>"
        f"<td class=num>{f.current_n}</td><td>{escape(f.change)}</td></tr>"
        for f in drift.features
    )
    table = (
        f"<p>Current {escape(drift.current)} against reference {escape(drift.reference)}. "
        "A feature drifts when its statistic exceeds the threshold and its test's p-value "
        "is below alpha.</p>"
        "<table><tr><th>feature</th><th>drifted</th><th>statistic</th><th>value</th><th>threshold</th>"
        "<th>test</th><th>p-value</th><th>reference n</th><th>current n</th><th>change</th></tr>"
        f"{rows}</table>"
    )
    return table + plot_html(_drift_figure(drift), "reference vs current distributions")


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
