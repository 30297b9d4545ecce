"""One self-contained HTML report of a run, to mail to a colleague.

Everything is inside the file: the config, the lineage, the final metrics, the
metric curves (drawn from the run's metric history), and the run's plots (PR
curves, confusion matrix, predictions next to ground truth) as base64 PNGs. No
script, no stylesheet or image fetched from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from pathlib import Path

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


def _png(data: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _table(rows: list[tuple], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


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
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>yolops run {html.escape(run_id)}</title>"
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(run.info.run_name or run_id)} "
        f"<small>run {html.escape(run_id)}</small></h1>",
        _table(
            [
                ("status", run.info.status),
                ("kind", tags.get("yolops.kind", "")),
                ("user", tags.get("mlflow.user", "")),
                ("run folder", tags.get("yolops.run_dir", "")),
            ],
            ("", ""),
        ),
    ]
    final = sorted(
        (k, f"{v:.4f}") for k, v in metrics.items() if k.startswith("best/") and "/ap" not in k
    )
    if final:
        parts += ["<h2>Final metrics (best weights)</h2>", _table(final, ("metric", "value"))]
    per_class = sorted(
        (k.removeprefix("best/val/ap50_95/"), f"{v:.4f}")
        for k, v in metrics.items()
        if k.startswith("best/val/ap50_95/")
    )
    if per_class:
        parts += ["<h2>Per-class AP50-95 (val)</h2>", _table(per_class, ("class", "AP50-95"))]
    curves = _curves_png(client, run_id, set(metrics))
    if curves:
        parts += ["<h2>Metric curves</h2>", _png(curves)]
    with tempfile.TemporaryDirectory() as tmp:
        plots = _artifact_files(client, run_id, "plots", Path(tmp))
        ranked = sorted(
            (p for p in plots if p.suffix == ".png"),
            key=lambda p: next((i for i, k in enumerate(PLOT_ORDER) if p.name.startswith(k)), 99),
        )
        if ranked:
            parts.append("<h2>Plots</h2>")
            for p in ranked:
                parts += [f"<h3>{html.escape(p.stem.replace('_', ' '))}</h3>", _png(p.read_bytes())]
        config = [
            p
            for p in _artifact_files(client, run_id, "config.yaml", Path(tmp) / "c")
            if p.is_file()
        ]
        if config:
            parts += ["<h2>Config</h2>", f"<pre>{html.escape(config[0].read_text())}</pre>"]
    lineage = sorted((k, v) for k, v in tags.items() if k.startswith(("dataset.", "git.", "sys.")))
    parts += ["<h2>Lineage and system</h2>", _table(lineage, ("tag", "value"))]
    if params:
        parts += ["<h2>Parameters</h2>", _table(sorted(params.items()), ("param", "value"))]
    parts += [
        "<h2>Commands</h2><pre>"
        + html.escape(
            f"yolops models register {run_id} --name NAME\nyolops predict --model runs:/{run_id} "
            f"--source IMAGES\nyolops runs compare {run_id} OTHER_RUN"
        )
        + "</pre></body></html>"
    ]
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
