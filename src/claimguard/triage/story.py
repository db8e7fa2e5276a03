"""The entity's story: reason comparisons and small server-side charts for the triage pages.

Why server-side SVG (matplotlib, as the Trends pages): no script or CDN under the app's
Content-Security-Policy, and the chart is the same on every screen. Each chart is
returned as a ``data:`` URI for an ``<img>`` (``img-src 'self' data:``), sized for a
phone (about 340 px wide, scaled down by CSS when narrower).

A reason's chart shows the entity's value against its peers' distribution: the
training histogram of the feature (``feature_peers``, quantile bins written by
``claimguard score``), the peers' median dashed, the entity's value in red. Without a
stored distribution it falls back to two bars, the value and the typical value.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from claimguard.scoring.reasons import PEERS_WORD, is_peer_relative, is_relative_sentence

RED, BLUE, GREY = "#b42318", "#8fb0e0", "#5f6b7a"


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.2g}" if abs(x) < 1 else f"{x:.1f}"


def compare_text(reason: dict[str, Any], entity_type: str) -> str:
    """The 'against peers' line under a reason, or '' when its sentence already says it.

    A sentence such as "3.1× the cost of comparable visits" or one already ending in
    "; similar patients: 2" is not followed by a second, repeating comparison.
    """
    text = str(reason.get("text") or "")
    feature = str(reason.get("feature") or "")
    peers = PEERS_WORD.get(entity_type, "peers")
    try:
        v, t = float(reason.get("value")), float(reason.get("typical"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(v) and math.isfinite(t)):
        return ""
    if peers in text or is_relative_sentence(text, feature) or is_peer_relative(feature):
        return ""
    # a share the sentence gives as a percent is compared as a percent
    typ = f"{t:.0%}" if "%" in text and abs(t) <= 1 else _num(t)
    out = f"{peers}: typically {typ}"
    if t > 0 and v / t >= 1.5:
        out += f", so {v / t:.1f}× theirs"
    return out


def _svg_uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(w: float = 3.4, h: float = 1.45) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    ax = fig.add_subplot()
    ax.tick_params(labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig, ax


def peer_chart(reason: dict[str, Any], peers: dict[str, Any] | None, entity_label: str) -> str:
    """A data-URI SVG: the entity's value (red) on its peers' distribution of the feature."""
    try:
        value = float(reason.get("value"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    typical = reason.get("typical")
    t = float(typical) if isinstance(typical, int | float) else float("nan")
    fig, ax = _figure()
    edges = np.asarray((peers or {}).get("bin_edges") or [], dtype=float)
    shares = np.asarray((peers or {}).get("bin_shares") or [], dtype=float)
    if len(edges) >= 2 and len(shares) == len(edges) - 1 and np.isfinite(edges).all():
        widths = np.diff(edges)
        dens = np.where(widths > 0, shares / np.where(widths > 0, widths, 1), 0.0)
        ax.stairs(dens, edges, fill=True, color=BLUE, label="peers")
        med = (peers or {}).get("median")
        if med is not None and math.isfinite(float(med)):
            ax.axvline(float(med), color=GREY, linestyle="--", linewidth=1)
            ax.annotate(f"median {_num(float(med))}", (float(med), dens.max() * 0.95 if len(dens) else 1),
                        fontsize=7, color=GREY, xytext=(3, 0), textcoords="offset points")  # fmt: skip
        lo, hi = float(edges[0]), float(edges[-1])
        if math.isfinite(value):
            lo, hi = min(lo, value), max(hi, value)
        pad = (hi - lo) * 0.05 or 1.0
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_yticks([])
        title = "peers' distribution"
    else:  # no stored distribution: value against the typical value
        vals = [t if math.isfinite(t) else 0.0, value if math.isfinite(value) else 0.0]
        ax.barh([0, 1], vals, color=[BLUE, RED], height=0.6)
        ax.set_yticks([0, 1], ["typical", "this"])
        title = "against the typical value"
    if math.isfinite(value):
        ax.axvline(value, color=RED, linewidth=2)
        ax.annotate(f"{entity_label} {_num(value)}", (value, 0), xycoords=("data", "axes fraction"),
                    fontsize=7, color=RED, xytext=(3, 2), textcoords="offset points")  # fmt: skip
    ax.set_title(title, fontsize=8, loc="left", color=GREY)
    fig.tight_layout(pad=0.3)
    return _svg_uri(fig)


def doctor_day_histogram(examinations: Sequence[float], cap: int) -> str:
    """A data-URI SVG: how many doctor-days had how many examinations, the cap in red."""
    x = np.asarray([float(e) for e in examinations if e is not None], dtype=float)
    fig, ax = _figure(3.4, 1.7)
    if len(x):
        top = max(float(x.max()), float(cap)) + 5
        edges = np.arange(0, top + 5, 5)
        counts, _ = np.histogram(x, edges)
        colors = [RED if e >= cap else BLUE for e in edges[:-1]]
        ax.bar(edges[:-1], counts, width=4.6, align="edge", color=colors)
    ax.axvline(cap, color=RED, linestyle="--", linewidth=1.2)
    ax.annotate(f"cap {cap}", (cap, 1), xycoords=("data", "axes fraction"), fontsize=7,
                color=RED, xytext=(3, -9), textcoords="offset points")  # fmt: skip
    ax.set_xlabel("examinations per doctor per day", fontsize=7)
    ax.set_ylabel("doctor-days", fontsize=7)
    ax.spines["left"].set_visible(True)
    fig.tight_layout(pad=0.3)
    return _svg_uri(fig)


def reason_views(
    reasons: list[dict[str, Any]],
    entity_type: str,
    peers: dict[str, dict[str, Any]] | None = None,
    charts: bool = False,
    entity_label: str = "this",
) -> list[dict[str, Any]]:
    """Reasons with their comparison line and (``charts``) a peer chart each."""
    out = []
    for r in reasons:
        view = {**r, "compare": compare_text(r, entity_type)}
        if charts:
            view["chart"] = peer_chart(r, (peers or {}).get(str(r.get("feature"))), entity_label)
        out.append(view)
    return out
