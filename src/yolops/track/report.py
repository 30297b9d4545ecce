"""One self-contained HTML report of a run, to mail to a colleague.

Everything is inside the file: the config, the lineage, the final metrics, the
metric curves (drawn from the run's metric history), and the run's plots (PR
curves, confusion matrix, predictions next to ground truth) as base64 PNGs. No
script, no stylesheet or image fetched from anywhere.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

from yolops.data.html_page import render, trusted
from yolops.track.store import get_run, store_errors
from yolops.workspace import Workspace

CURVES = (
    ("losses", ("train/box_loss", "train/cls_loss", "train/dfl_loss")),
    ("validation", ("val/map50_95", "val/map50", "val/precision", "val/recall")),
    ("learning rate", ("lr",)),
)
PLOT_ORDER = ("training_curves", "pr_curves", "confusion_matrix", "predictions")

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\n"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\n"
    "th{background:#f3f3f3}img{max-width:100%;border:1px solid #ddd;margin:.3em 0}"
    "pre{background:#f6f6f6;padding:1em}\n"
    "h1 small{color:#777;font-weight:normal}"
)


_PAGE = """{% extends "page.html" %}
{% macro table(rows, header) %}
<table><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr>\
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}\
</table>
{% endmacro %}
{% macro png(uri) %}<img src="{{ uri }}">{% endmacro %}
{% block body %}
<h1>{{ name }} <small>run {{ run_id }}</small></h1>
{{ table(overview, ("", "")) }}
{% if final %}
<h2>Final metrics (best weights)</h2>
{{ table(final, ("metric", "value")) }}
{% endif %}
{% if per_class %}
<h2>Per-class AP50-95 (val)</h2>
{{ table(per_class, ("class", "AP50-95")) }}
{% endif %}
{% if curves %}
<h2>Metric curves</h2>
{{ png(curves) }}
{% endif %}
{% if plots %}
<h2>Plots</h2>
{% for title, uri in plots %}
<h3>{{ title }}</h3>
{{ png(uri) }}
{% endfor %}
{% endif %}
{% if config %}
<h2>Config</h2>
<pre>{{ config }}</pre>
{% endif %}
<h2>Lineage and system</h2>
{{ table(lineage, ("tag", "value")) }}
{% if params %}
<h2>Parameters</h2>
{{ table(params, ("param", "value")) }}
{% endif %}
<h2>Commands</h2><pre>yolops models register {{ run_id }} --name NAME
yolops predict --model runs:/{{ run_id }} --source IMAGES
yolops runs compare {{ run_id }} OTHER_RUN</pre>
{% endblock %}
"""


def _png(data: bytes) -> str:
    """A PNG as a data URI."""
    return f"data:image/png;base64,{base64.b64encode(data).decode()}"


def _curves_png(client, run_id: str, metric_keys: set[str]) -> bytes | None:
    import matplotlib  # its backend is chosen before pyplot loads, only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(title, [k for k in keys if k in metric_keys]) for title, keys in CURVES]
    panels = [(t, ks) for t, ks in panels if ks]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            history = sorted(
                client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp)
            )
            ax.plot(
                [m.step for m in history], [m.value for m in history], marker="o", ms=3, label=key
            )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _artifact_files(client, run_id: str, folder: str, into: Path) -> list[Path]:
    if not any(a.path == folder for a in client.list_artifacts(run_id)):
        return []
    local = Path(client.download_artifacts(run_id, folder, str(into)))
    return sorted(local.rglob("*")) if local.is_dir() else [local]


@store_errors
def write_report(ws: Workspace, run_id: str, out: str | Path | None = None) -> Path:
    """Write the HTML report of ``run_id`` to ``out`` (default
    ``<workspace>/reports/<run_id>.html``); returns its path."""
    run = get_run(ws, run_id)
    client = ws.client()
    out = Path(out) if out else ws.root / "reports" / f"{run_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    final = sorted(
        (k, f"{v:.4f}") for k, v in metrics.items() if k.startswith("best/") and "/ap" not in k
    )
    per_class = sorted(
        (k.removeprefix("best/val/ap50_95/"), f"{v:.4f}")
        for k, v in metrics.items()
        if k.startswith("best/val/ap50_95/")
    )
    curves = _curves_png(client, run_id, set(metrics))
    with tempfile.TemporaryDirectory() as tmp:
        plots = _artifact_files(client, run_id, "plots", Path(tmp))
        ranked = sorted(
            (p for p in plots if p.suffix == ".png"),
            key=lambda p: next((i for i, k in enumerate(PLOT_ORDER) if p.name.startswith(k)), 99),
        )
        pictures = [(p.stem.replace("_", " "), _png(p.read_bytes())) for p in ranked]
        config = [
            p
            for p in _artifact_files(client, run_id, "config.yaml", Path(tmp) / "c")
            if p.is_file()
        ]
        config_text = config[0].read_text() if config else ""
    page = render(
        _PAGE,
        title=f"yolops run {run_id}",
        css=trusted(_STYLE),
        name=run.info.run_name or run_id,
        run_id=run_id,
        overview=[
            ("status", run.info.status),
            ("kind", tags.get("yolops.kind", "")),
            ("user", tags.get("mlflow.user", "")),
            ("run folder", tags.get("yolops.run_dir", "")),
        ],
        final=final,
        per_class=per_class,
        curves=_png(curves) if curves else "",
        plots=pictures,
        config=config_text,
        lineage=sorted(
            (k, v) for k, v in tags.items() if k.startswith(("dataset.", "git.", "sys."))
        ),
        params=sorted(params.items()),
    )
    out.write_text(page, encoding="utf-8")
    return out
