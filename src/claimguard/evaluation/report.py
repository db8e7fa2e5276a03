"""The evaluation report: one self-contained HTML file (plots embedded as PNG data).

Why self-contained: the report is mailed, attached to tickets and opened offline, so it
carries its own pictures and styles and needs no server. It shows how good the queue
is (precision-recall curve, score distributions of planted abuse vs normal entities
vs legitimate heavy users, recall per scenario), how the model compares with naive
baselines, whether the explanations point at the planted abuse, and whether the
scored month drifted from the training data.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from jinja2 import Environment, select_autoescape  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

COLORS = {"planted": "#c0392b", "normal": "#7f8c8d", "trap": "#2980b9"}


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def pr_curve_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> str | None:
    """Precision-recall curves, one per method: {name: (y_true 0/1, score)}."""
    usable = {k: v for k, v in curves.items() if len(v[0]) and 0 < np.sum(v[0]) < len(v[0])}
    if not usable:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4))
    for name, (y, s) in usable.items():
        precision, recall, _ = precision_recall_curve(y, s)
        ax.plot(recall, precision, label=name, linewidth=1.6)
    base = float(np.mean(next(iter(usable.values()))[0]))
    ax.axhline(base, color="#bbb", linestyle=":", label=f"random ({base:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=8)
    return _png(fig)


def score_hist_png(groups: Mapping[str, np.ndarray], title: str) -> str | None:
    """Score distributions of planted, normal and trap entities (densities, shared bins)."""
    groups = {k: np.asarray(v, dtype=float) for k, v in groups.items() if len(v)}
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4))
    bins = [float(b) for b in np.linspace(0, 1, 41)]
    for name, values in groups.items():
        ax.hist(
            values,
            bins=bins,
            density=True,
            alpha=0.45,
            label=f"{name} (n={len(values):,})",
            color=COLORS.get(name),
        )
    ax.set(xlabel="score", ylabel="density", title=title)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return _png(fig)


def recall_bar_png(recall: Mapping[str, float], title: str) -> str | None:
    """Recall per scenario at the review capacity, one bar each."""
    items = [(k, v) for k, v in recall.items() if v is not None and not math.isnan(v)]
    if not items:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 0.45 * len(items) + 1.2))
    names = [k for k, _ in items]
    ax.barh(names, [v for _, v in items], color="#c0392b")
    ax.set(xlim=(0, 1), xlabel="recall", title=title)
    ax.invert_yaxis()
    return _png(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return "–"
        return f"{x:.3f}" if abs(x) < 10 else f"{x:,.1f}"
    return str(value)


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>claimguard evaluation — {{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots img{border:1px solid #eee}
.warn{color:#a04000;font-weight:600}.ok{color:#1e7e34;font-weight:600}.muted{color:#777}
</style></head><body>
<h1>claimguard evaluation</h1>
<p>Scored folder <code>{{ source.scored_dir }}</code>; labels <code>{{ source.labels }}</code>
({{ source.label_kind }}); model <code>{{ source.model_version }}</code>;
period {{ source.period }}.</p>
{% for et in entity_sections %}
<h2>{{ et.title }}</h2>
<p>{{ et.n_entities }} scored, {{ et.n_positive }} labelled positive{% if et.n_traps %},
{{ et.n_traps }} legitimate heavy users (traps){% endif %}; review capacity {{ et.capacity }}.</p>
<table><tr><th>metric</th>{% for m in et.methods %}<th>{{ m }}</th>{% endfor %}</tr>
{% for row in et.rows %}<tr><td>{{ row.name }}</td>{% for v in row.cells %}<td>{{ v }}</td>
{% endfor %}</tr>{% endfor %}</table>
{% if et.scenario_rows %}
<h3>Recall per scenario (top {{ et.capacity }})</h3>
<table><tr><th>scenario</th><th>entities</th><th>recall</th></tr>
{% for r in et.scenario_rows %}<tr><td>{{ r[0] }}</td><td>{{ r[1] }}</td><td>{{ r[2] }}</td></tr>
{% endfor %}</table>{% endif %}
<div class="plots">{% for img in et.plots %}<img alt="{{ img[0] }}" src="data:image/png;base64,{{ img[1] }}">{% endfor %}</div>
{% endfor %}
{% if explanations %}
<h2>Explanations</h2>
<p>Among {{ explanations.true_alerts }} true alerts, the scenario's expected signal is in the
top 3 reasons for <b>{{ explanations.hit_rate_pct }}</b>
(primary signal only: {{ explanations.primary_hit_rate_pct }}; target ≥ 90%).</p>
<table><tr><th>scenario</th><th>true alerts</th><th>hit rate</th><th>most common first reason</th></tr>
{% for r in explanations.rows %}<tr><td>{{ r[0] }}</td><td>{{ r[1] }}</td><td>{{ r[2] }}</td><td>{{ r[3] }}</td></tr>
{% endfor %}</table>{% endif %}
{% if reviewer %}
<h2>Reviewer decisions</h2>
<table><tr><th>entity type</th><th>alerts</th><th>confirmed</th><th>dismissed</th>
<th>other decision</th><th>undecided</th><th>queue precision</th></tr>
{% for r in reviewer %}<tr>{% for v in r %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
<p class="muted">Queue precision = confirmed / (confirmed + dismissed) among alerted entities.</p>
{% endif %}
<h2>Drift</h2>
{% if drift %}
<p class="{{ 'warn' if drift.drifted else 'ok' }}">{{ 'Drift beyond limits' if drift.drifted else
'No drift beyond limits' }}</p>
{% for p in drift.problems %}<p class="warn">• {{ p }}</p>{% endfor %}
<table><tr><th>check</th><th>value</th></tr>
<tr><td>features checked</td><td>{{ drift.features_checked }}</td></tr>
<tr><td>share of features with PSI above {{ drift.psi_limit }}</td><td>{{ drift.share }}</td></tr>
<tr><td>claims at facilities unseen in training</td><td>{{ drift.unseen_fac }}</td></tr>
<tr><td>claims with a diagnosis unseen in training</td><td>{{ drift.unseen_dx }}</td></tr></table>
{% if drift.top %}<h3>Highest PSI</h3><table><tr><th>feature</th><th>PSI</th></tr>
{% for k, v in drift.top %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% else %}<p class="muted">The scored folder has no drift section.</p>{% endif %}
<p class="muted">Generated by claimguard {{ version }}.</p>
</body></html>
"""


def render_report(context: dict[str, Any]) -> str:
    """HTML text of the report from a context prepared by ``evaluate``."""
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(TEMPLATE).render(**context)


def write_report(context: dict[str, Any], path: Path) -> Path:
    """Write the report; the caller's output folder handles atomicity."""
    path.write_text(render_report(context), encoding="utf-8")
    return path


def fmt(value: Any) -> str:
    """Display format used in report tables (public for evaluate)."""
    return _fmt(value)
