"""The monitoring report as one self-contained HTML file (plots and thumbnails inline).

Sections: the verdict and the alerts; the window over time (traffic, brightness,
confidence, low-confidence share, with the reference's level drawn in); input and
prediction drift, feature by feature with reference and live distributions; the
flagged images, with a thumbnail of each the server saved.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from yolops.data.html_page import render, trusted
from yolops.data.images import read_image
from yolops.errors import ImageReadError
from yolops.monitor.drift import ALERT, OK, MonitorReport
from yolops.quality.drift import DriftReport
from yolops.quality.report import CSS, CUR_COLOR, REF_COLOR, drift_html, plot_html, section

THUMBNAILS = 24  # flagged images shown as pictures
ROWS = 200  # flagged images listed
THUMB_SIDE = 200


def write_monitor_html(report: MonitorReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_monitor_html(report), encoding="utf-8")
    return path


_PAGE = """{% extends "page.html" %}
{% block body %}
<h1>{{ title }}</h1><div class='meta'>window {{ r.start.isoformat(timespec="seconds") }} .. \
{{ r.end.isoformat(timespec="seconds") }} · reference: {{ ref.dataset }} ({{ ref.num_images }} \
images, {{ ref.detections|length }} validation images predicted, built {{ ref.created_at }}) · \
compared at confidence {{ "%g"|format(c.conf) }}, low confidence below \
{{ "%g"|format(c.low_conf) }} · {{ r.other_versions }} rows of other versions left out · \
generated {{ generated }}</div><div class='cards'>\
<div class='card {{ card[0] }}'><b>{{ card[1] }}</b>{{ r.rows|length }} images in the window</div>\
<div class='card {{ "error" if r.drifted else "info" }}'><b>{{ r.drifted|length }}</b>\
features drifted</div>\
<div class='card {{ "warning" if r.flagged else "info" }}'><b>{{ r.flagged|length }}</b>\
images flagged</div></div>\
<p><b>{{ r.summary() }}</b></p>\
{% if r.alerts %}<ul>{% for a in r.alerts %}<li>{{ a }}</li>{% endfor %}</ul>{% endif %}

{% for s in sections %}{{ s }}
{% endfor %}
<section id='flagged'><h2>Flagged images ({{ r.flagged|length }})</h2>
{% if not r.flagged %}
<p>No image stood out.</p>
{% else %}
{% if figures %}
<div class='gallery'>{% for uri, caption in figures %}<figure><img src='{{ uri }}' \
alt='flagged image'><figcaption>{{ caption }}</figcaption></figure>{% endfor %}</div>
{% else %}
<p>The server saved none of these images (serve with <code>--log-sample-rate</code> to keep a \
share of them for labeling).</p>
{% endif %}
<table><tr><th>time</th><th>image</th><th>request</th><th>saved</th><th>why</th></tr>
{% for f in rows %}
<tr><td>{{ f.row.time.isoformat(timespec="seconds") }}</td><td>{{ f.row.image_name }}</td>\
<td>{{ f.row.request_id }}</td><td>{{ "yes" if f.row.get("sample_path") else "no" }}</td>\
<td>{{ "; ".join(f.reasons) }}</td></tr>
{% endfor %}
</table>
{% if r.flagged|length > rows|length %}
<p>{{ r.flagged|length - rows|length }} more in the JSON report.</p>
{% endif %}
{% endif %}
</section>
{% endblock %}
"""


def render_monitor_html(report: MonitorReport) -> str:
    sections = []
    if report.rows:
        sections.append(
            section(
                "Over the window", "timeline", plot_html(_timeline(report), "the window over time")
            )
        )
    live = f"live {report.start:%Y-%m-%d %H:%M}..{report.end:%H:%M} UTC"
    sections.append(
        section(
            "Input drift",
            "input",
            drift_html(DriftReport(report.reference.dataset, live, report.inputs)),
        )
    )
    sections.append(
        section(
            "Prediction drift",
            "predictions",
            drift_html(
                DriftReport(
                    f"{report.reference.dataset} (validation images)",
                    live,
                    (*report.predictions, report.low_confidence),
                )
            ),
        )
    )
    card = {ALERT: ("gate-fail", "ALERT"), OK: ("gate-pass", "OK")}.get(
        report.status, ("info", report.status.upper())
    )
    return render(
        _PAGE,
        title=f"Monitoring: {report.model_name} version {report.model_version}",
        css=trusted(CSS),
        r=report,
        ref=report.reference,
        c=report.config,
        card=card,
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        sections=sections,
        figures=_figures(report),
        rows=report.flagged[:ROWS],
    )


def _timeline(r: MonitorReport) -> Figure:
    times = np.array([row["time"].timestamp() for row in r.rows])
    edges = np.linspace(r.start.timestamp(), r.end.timestamp(), 25)
    bucket = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, len(edges) - 2)
    centers = [datetime.fromtimestamp(t, UTC) for t in (edges[:-1] + edges[1:]) / 2]
    conf, low = r.config.conf, r.config.low_conf
    scores = [[s for s in row["scores"] if s >= conf] for row in r.rows]
    ref_scores = [s for image in r.reference.detections_at(conf) for _, s in image]

    def per_bucket(values: list[list[float]]) -> np.ndarray:
        out = np.full(len(centers), np.nan)
        for b in range(len(centers)):
            pooled = [v for i in np.flatnonzero(bucket == b) for v in values[i]]
            if pooled:
                out[b] = float(np.mean(pooled))
        return out

    panels = [
        ("images", np.bincount(bucket, minlength=len(centers)).astype(float), None),
        (
            "brightness (mean)",
            per_bucket([[row["brightness"]] for row in r.rows]),
            _mean(r.reference.input_values("brightness")),
        ),
        ("confidence (mean)", per_bucket(scores), _mean(ref_scores)),
        (
            f"share of boxes < {low:g}",
            per_bucket([[float(s < low) for s in ss] for ss in scores]),
            _mean([float(s < low) for s in ref_scores]),
        ),
    ]
    fig = Figure(figsize=(14, 2.6))
    axes = fig.subplots(
        1, len(panels), gridspec_kw=dict(wspace=0.3, left=0.04, right=0.99, top=0.85, bottom=0.25)
    )
    for ax, (title, values, level) in zip(axes, panels):
        if title == "images":
            ax.bar(centers, values, width=(edges[1] - edges[0]) / 86400 * 0.9, color=CUR_COLOR)
        else:
            ax.plot(centers, values, "o-", color=CUR_COLOR, ms=3, label="live")
        if level is not None:
            ax.axhline(level, color=REF_COLOR, ls="--", label="reference")
            ax.legend(fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(r.start, r.end)
        if (r.end - r.start).total_seconds() >= 60:  # shorter: the default ticks say it better
            locator = AutoDateLocator(maxticks=5)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.tick_params(axis="x", labelsize=7)
    return fig


def _mean(values) -> float | None:
    values = np.asarray(values, np.float64)
    return float(values.mean()) if len(values) else None


def _figures(r: MonitorReport) -> list[tuple[str, str]]:
    """(thumbnail data URI, caption) of the first flagged images the server saved."""
    figures = []
    for item in [f for f in r.flagged if f.row.get("sample_path")][:THUMBNAILS]:
        uri = _thumbnail(Path(item.row["sample_path"]))
        if uri:
            figures.append((uri, f"{item.row['time']:%H:%M:%S} · " + "; ".join(item.reasons)))
    return figures


def _thumbnail(path: Path) -> str | None:
    try:
        image = read_image(path)
    except ImageReadError:
        return None
    scale = THUMB_SIDE / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(
            image,
            (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
    ok, jpg = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    return "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode() if ok else None
