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

from yolops.data.images import read_image
from yolops.errors import ImageReadError
from yolops.monitor.drift import ALERT, OK, MonitorReport
from yolops.quality.drift import DriftReport
from yolops.quality.report import CSS, CUR_COLOR, REF_COLOR, drift_html, escape, plot_html, section

THUMBNAILS = 24  # flagged images shown as pictures
ROWS = 200  # flagged images listed
THUMB_SIDE = 200


def write_monitor_html(report: MonitorReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_monitor_html(report), encoding="utf-8")
    return path


def render_monitor_html(report: MonitorReport) -> str:
    body = [_header(report)]
    if report.rows:
        body.append(
            section(
                "Over the window", "timeline", plot_html(_timeline(report), "the window over time")
            )
        )
    live = f"live {report.start:%Y-%m-%d %H:%M}..{report.end:%H:%M} UTC"
    body.append(
        section(
            "Input drift",
            "input",
            drift_html(DriftReport(report.reference.dataset, live, report.inputs)),
        )
    )
    body.append(
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
    body.append(section(f"Flagged images ({len(report.flagged)})", "flagged", _flagged(report)))
    title = f"Monitoring: {report.model_name} version {report.model_version}"
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _header(r: MonitorReport) -> str:
    card = {ALERT: ("gate-fail", "ALERT"), OK: ("gate-pass", "OK")}.get(
        r.status, ("info", r.status.upper())
    )
    cards = [
        f"<div class='card {card[0]}'><b>{escape(card[1])}</b>"
        f"{len(r.rows)} images in the window</div>",
        f"<div class='card {'error' if r.drifted else 'info'}'><b>{len(r.drifted)}</b>"
        "features drifted</div>",
        f"<div class='card {'warning' if r.flagged else 'info'}'><b>{len(r.flagged)}</b>"
        "images flagged</div>",
    ]
    c, ref = r.config, r.reference
    meta = (
        f"window {r.start.isoformat(timespec='seconds')} .. "
        f"{r.end.isoformat(timespec='seconds')} · "
        f"reference: {escape(ref.dataset)} ({ref.num_images} images, "
        f"{len(ref.detections)} validation images predicted, built {escape(ref.created_at)}) · "
        f"compared at confidence {c.conf:g}, low confidence below {c.low_conf:g} · "
        f"{r.other_versions} rows of other versions left out · generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}"
    )
    alerts = "".join(f"<li>{escape(a)}</li>" for a in r.alerts)
    verdict = f"<p><b>{escape(r.summary())}</b></p>" + (f"<ul>{alerts}</ul>" if alerts else "")
    return (
        f"<h1>Monitoring: {escape(r.model_name)} version {escape(r.model_version)}</h1>"
        f"<div class='meta'>{meta}</div><div class='cards'>{''.join(cards)}</div>{verdict}"
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


def _flagged(r: MonitorReport) -> str:
    if not r.flagged:
        return "<p>No image stood out.</p>"
    figures = []
    for item in [f for f in r.flagged if f.row.get("sample_path")][:THUMBNAILS]:
        uri = _thumbnail(Path(item.row["sample_path"]))
        if uri:
            caption = f"{item.row['time']:%H:%M:%S} · " + "; ".join(item.reasons)
            figures.append(
                f"<figure><img src='{uri}' alt='flagged image'><figcaption>{escape(caption)}"
                "</figcaption></figure>"
            )
    gallery = (
        f"<div class='gallery'>{''.join(figures)}</div>"
        if figures
        else (
            "<p>The server saved none of these images "
            "(serve with <code>--log-sample-rate</code> to keep a share of them for labeling).</p>"
        )
    )
    rows = "".join(
        f"<tr><td>{f.row['time'].isoformat(timespec='seconds')}</td>"
        f"<td>{escape(f.row['image_name'])}</td><td>{escape(f.row['request_id'])}</td>"
        f"<td>{'yes' if f.row.get('sample_path') else 'no'}</td>"
        f"<td>{escape('; '.join(f.reasons))}</td></tr>"
        for f in r.flagged[:ROWS]
    )
    more = (
        f"<p>{len(r.flagged) - ROWS} more in the JSON report.</p>" if len(r.flagged) > ROWS else ""
    )
    return (
        gallery
        + "<table><tr><th>time</th><th>image</th><th>request</th><th>saved</th><th>why</th></tr>"
        f"{rows}</table>{more}"
    )


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
