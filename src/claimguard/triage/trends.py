"""The triage app's Trends pages: monthly indicators against their peer band, warnings marked.

Why a folder and not the alert store: `claimguard monitor --out DIR` writes small tidy
Parquet files (facilities x months x indicators), read-only for reviewers, and replaced
whole at each run; the app is pointed at that folder (`claimguard serve --trends DIR`)
and re-reads it when it changes, so no store migration is needed.

Charts are server-side matplotlib SVG served as images (``img-src 'self'`` under the
app's Content-Security-Policy; no script, no CDN), one small chart per indicator laid out
as a grid that collapses to one column at a phone's width. The peer band is the facility's
expected value times the 10th-90th percentile of its same-tier peers' ratios that month
(provinces: of all provinces).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimguard.features.monthly import BY_NAME, INDICATORS

HERE = Path(__file__).parent
LEVELS = ("facility", "province", "fund")
BAND = (0.1, 0.9)


@dataclass
class _Loaded:
    stamp: tuple[float, float]
    indicators: pd.DataFrame
    warnings: pd.DataFrame
    band: pd.DataFrame


class TrendsData:
    """The monitor folder's tables, re-read when its files change."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def _files(self) -> tuple[Path, Path] | None:
        if self.folder is None:
            return None
        ind, warn = self.folder / "indicators.parquet", self.folder / "warnings.parquet"
        return (ind, warn) if ind.exists() and warn.exists() else None

    def get(self) -> _Loaded | None:
        files = self._files()
        if files is None:
            return None
        stamp = (files[0].stat().st_mtime, files[1].stat().st_mtime)
        with self._lock:
            if self._loaded is None or self._loaded.stamp != stamp:
                ind = pd.read_parquet(files[0])
                warn = pd.read_parquet(files[1])
                self._loaded = _Loaded(stamp, ind, warn, _band(ind))
            return self._loaded


def _band(ind: pd.DataFrame) -> pd.DataFrame:
    """Per (level, peer group, month, indicator): the 10th and 90th percentile ratio."""
    peer = np.where(ind["level"] == "facility", ind["tier"], "all")
    g = ind.assign(peer=peer).groupby(["level", "peer", "month", "indicator"])["ratio"]
    return pd.DataFrame({"lo": g.quantile(BAND[0]), "hi": g.quantile(BAND[1])})


def chart_svg(
    series: pd.DataFrame, band: pd.DataFrame, warned: set[str], title: str, unit: str
) -> bytes:
    """One small line chart: value, expected (dashed), peer band, warned months in red."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    s = series.sort_values("month")
    x = np.arange(len(s))
    fig = Figure(figsize=(3.6, 2.1), dpi=100)
    ax = fig.add_subplot()
    if len(s):
        peer = np.where(s["level"] == "facility", s["tier"], "all")
        key = pd.MultiIndex.from_arrays([s["level"], peer, s["month"], s["indicator"]])
        b = band.reindex(key)
        exp = s["expected"].to_numpy(dtype=float)
        lo, hi = exp * b["lo"].to_numpy(dtype=float), exp * b["hi"].to_numpy(dtype=float)
        ax.fill_between(x, lo, hi, color="#9ecae1", alpha=0.5, linewidth=0, label="peer band")
        ax.plot(x, exp, "--", color="#3182bd", linewidth=1, label="expected")
        val = s["value"].to_numpy(dtype=float)
        ax.plot(x, val, "-o", color="#222222", markersize=2.5, linewidth=1.4, label="value")
        hit = s["month"].isin(warned).to_numpy()
        if hit.any():
            ax.plot(x[hit], val[hit], "o", color="#d62728", markersize=6, label="warning")
        labels = [m[2:] for m in s["month"]]
        step = max(1, len(labels) // 6)
        ax.set_xticks(x[::step], labels[::step])
    ax.set_title(f"{title} ({unit})", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout(pad=0.4)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


class _Pages:
    """The Trends pages over one monitor folder (the routes are its bound methods)."""

    def __init__(self, folder: Path | None, store_kind: str) -> None:
        self.folder = folder
        self.store_kind = store_kind
        self.data = TrendsData(folder)
        env = Environment(
            loader=ChoiceLoader(
                [
                    FileSystemLoader(HERE / "templates" / "trends"),
                    FileSystemLoader(HERE / "templates"),
                ]
            ),
            autoescape=True,
        )
        env.filters["pct"] = lambda v: "" if pd.isna(v) else f"{float(v) * 100:+.0f}%"
        self.templates = Jinja2Templates(env=env)

    def render(
        self, request: Request, name: str, status_code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        ctx.setdefault("store_kind", self.store_kind)
        ctx.setdefault("folder", str(self.folder) if self.folder else "")
        return self.templates.TemplateResponse(request, name, ctx, status_code=status_code)

    def loaded(self) -> _Loaded:
        d = self.data.get()
        if d is None:
            raise StarletteHTTPException(404, "No monitor output")
        return d

    def trends_index(self, request: Request) -> HTMLResponse:
        d = self.data.get()
        if d is None:
            return self.render(request, "trends_index.html", provinces=[], warned=[], missing=True)
        ind, w = d.indicators, d.warnings
        provs = sorted(ind.loc[ind["level"] == "province", "facility"].unique())
        count = w[w["level"] == "facility"].groupby("province")["facility"].nunique()
        provinces = [{"name": p, "warned": int(count.get(p, 0))} for p in provs]
        fw = w[w["level"] == "facility"]
        top = (
            fw.sort_values("score", ascending=False)
            .drop_duplicates("facility")
            .head(50)
            .to_dict("records")
        )
        months = sorted(ind["month"].unique())
        return self.render(
            request, "trends_index.html", provinces=provinces, warned=top, months=months,
            missing=False,
        )  # fmt: skip

    def entity_page(self, request: Request, level: str, entity: str) -> HTMLResponse:
        d = self.loaded()
        ind = d.indicators
        rows = ind[(ind["level"] == level) & (ind["facility"] == entity)]
        if rows.empty:
            raise StarletteHTTPException(404, f"No monthly indicators for {level} {entity}")
        w = d.warnings[(d.warnings["level"] == level) & (d.warnings["facility"] == entity)]
        present = set(rows["indicator"])
        charts = [
            {"name": i.name, "label": i.label, "warned": bool((w["indicator"] == i.name).any())}
            for i in INDICATORS
            if i.name in present
        ]
        first = rows.iloc[0]
        return self.render(
            request,
            "trends_entity.html",
            level=level,
            entity=entity,
            province=first["province"],
            tier=first["tier"],
            charts=charts,
            warnings=_warn_rows(w),
            members=_members(d, entity) if level == "province" else [],
            months=sorted(rows["month"].unique()),
        )

    def trends_facility(self, request: Request, facility_id: str) -> HTMLResponse:
        return self.entity_page(request, "facility", facility_id)

    def trends_province(self, request: Request, province: str) -> HTMLResponse:
        return self.entity_page(request, "province", province)

    def trends_fund(self, request: Request) -> HTMLResponse:
        return self.entity_page(request, "fund", "fund")

    def trends_chart(self, level: str, indicator: str, entity: str) -> Response:
        d = self.loaded()
        if level not in LEVELS or indicator not in BY_NAME:
            raise StarletteHTTPException(404, "No such chart")
        ind = d.indicators
        s = ind[(ind["level"] == level) & (ind["facility"] == entity)]
        s = s[s["indicator"] == indicator]
        if s.empty:
            raise StarletteHTTPException(404, "No such chart")
        w = d.warnings
        warned = set(
            w.loc[
                (w["level"] == level) & (w["facility"] == entity) & (w["indicator"] == indicator),
                "month",
            ]
        )
        meta = BY_NAME[indicator]
        svg = chart_svg(s, d.band, warned, meta.label, meta.unit)
        return Response(svg, media_type="image/svg+xml")


def _warn_rows(w: pd.DataFrame) -> list[dict[Any, Any]]:
    return w.sort_values(["month", "score"], ascending=[False, False]).to_dict("records")


def _members(d: _Loaded, province: str) -> list[dict[str, Any]]:
    """A province's facilities, most warned first."""
    ind = d.indicators
    f = ind[(ind["level"] == "facility") & (ind["province"] == province)]
    fw = d.warnings[(d.warnings["level"] == "facility")]
    nw = fw[fw["province"] == province].groupby("facility").size()
    members = [
        {"id": fid, "tier": tier, "warnings": int(nw.get(fid, 0))}
        for fid, tier in f[["facility", "tier"]].drop_duplicates().itertuples(index=False)
    ]
    members.sort(key=lambda m: (-m["warnings"], m["id"]))
    return members


def make_router(folder: Path | None, store_kind: str = "") -> APIRouter:
    """The Trends routes over the monitor output in ``folder`` (None: a page that says how)."""
    pages = _Pages(folder, store_kind)
    router = APIRouter()
    html = {"response_class": HTMLResponse, "methods": ["GET"]}
    router.add_api_route("/trends", pages.trends_index, **html)  # type: ignore[arg-type]
    router.add_api_route(
        "/trends/facility/{facility_id:path}",
        pages.trends_facility,
        **html,  # type: ignore[arg-type]
    )
    router.add_api_route(
        "/trends/province/{province}",
        pages.trends_province,
        **html,  # type: ignore[arg-type]
    )
    router.add_api_route("/trends/fund", pages.trends_fund, **html)  # type: ignore[arg-type]
    router.add_api_route(
        "/trends/chart/{level}/{indicator}.svg", pages.trends_chart, methods=["GET"]
    )
    return router
