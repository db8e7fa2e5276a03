"""Early warnings: a one-sided CUSUM on each mix-adjusted monthly ratio, confirmed by peers.

Why both tests: a facility whose admissions climb while its same-tier peers stay flat is
what a provincial office wants to see early; a rise shared by every peer (a flu month) is
not a warning, and neither is a facility that has always been high (the monthly alert
queue already ranks that). So an indicator is warned in a month when

* its own history says it changed: a one-sided tabular CUSUM (Page, 1954) on
  x = log(ratio / peer_ratio) (the mix-adjusted ratio relative to the same-month peer
  median, so a month when every peer rises moves nobody), standardised by a robust reference taken from the facility's own
  previous ``window_months`` months (median, 1.4826 x MAD, at least ``spread_floor``);
  the month's Poisson noise (1/sqrt(expected events)) is added to that spread;
  the reference is frozen while the CUSUM is accumulating, so a slowly growing drift
  cannot become its own reference; S_t = max(0, S_{t-1} + (x_t - mu)/sigma - k), and
  S_t > h is a change;
* it departs from same-tier peers in the same month: robust z > ``peer_z``;
* it rose by at least ``min_rise`` over its own reference, on at least ``min_claims``
  claims that month.

Count indicators (admissions, admissions for diagnoses peers seldom admit, sick-leave
certificates; :data:`claimguard.features.monthly.COUNT_INDICATORS`) are calibrated for
their binomial/Poisson noise instead, because a small facility's month holds a handful of
events: x is the smoothed log(events / expected events at the same-month peer rate), the
reference is the ratio of the summed events to the summed expectation of the reference
months, the spread is the Poisson variance of the month and of the reference plus one
extra-Poisson variance per indicator estimated over all facilities (not each facility's
few months); the peer test is a random-effects funnel z (Spiegelhalter, 2005) of the
events of the most significant recent stretch of the CUSUM's run against the peer rates,
so evidence accumulates over the months of the rise in both tests.

The loop is over months (at most 24), every step vectorised over all series.
"""

from __future__ import annotations

import warnings as _pywarnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from claimguard.features.monthly import (
    BY_NAME,
    COUNT_INDICATORS,
    TIDY_COLUMNS,
    extra_poisson_variance,
    smoothed_log_ratio,
)
from claimguard.settings import MonitorSettings

METHOD = (
    "one-sided CUSUM on log(ratio / peer median), robust own reference; same-tier robust z; "
    "count indicators: Poisson-calibrated CUSUM and funnel z over the run"
)
# a warning is keyed like the indicator row it flags (level .. indicator), then says why
WARNING_COLUMNS = (
    *TIDY_COLUMNS[: TIDY_COLUMNS.index("indicator") + 1],
    "signal",
    "severity",
    "score",
    "cusum",
    "rise",
    "peer_change",
    "z",
    "run_months",
    "run_start",
    "value",
    "expected",
    "sentence",
    "method",
)
_SERIES = ["level", "facility", "indicator"]


def _nan_stats(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row median, robust spread and count of finite values of a (series x months) block."""
    with _pywarnings.catch_warnings():
        _pywarnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
        med = np.nanmedian(hist, axis=1)
        mad = np.nanmedian(np.abs(hist - med[:, None]), axis=1) * 1.4826
    return med, mad, np.isfinite(hist).sum(axis=1)


@dataclass(frozen=True)
class Counts:
    """Count indicators among the CUSUM's series: their monthly events and expected events
    at same-month peer rates, and their extra-Poisson month-to-month spread."""

    rows: np.ndarray  # bool per series
    events: np.ndarray  # (series x months) O, NaN where no data
    expected: np.ndarray  # (series x months) E x peer median ratio
    spread: np.ndarray  # per series, extra-Poisson spread of a month's log ratio


def cusum(
    x: np.ndarray,
    settings: MonitorSettings,
    noise: np.ndarray | None = None,
    counts: Counts | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CUSUM statistic, reference mean, run length, run start column and standardised
    deviation ``(x - reference) / spread`` (NaN where not tested), per (series, month).

    ``x`` is (series x months) of log ratios, NaN where a month has no data; ``noise``
    (same shape) the sampling spread of each month's value, added to the reference spread.
    For the ``counts`` rows the reference is the ratio of the summed events to the summed
    expected events of the reference months, and the spread is Poisson in the month's and
    the reference's expected events plus the pooled extra-Poisson spread.
    """
    s_count, m_count = x.shape
    stat = np.zeros_like(x)
    ref = np.full_like(x, np.nan)
    run = np.zeros(x.shape, dtype=np.int64)
    start = np.full(x.shape, -1, dtype=np.int64)
    dev = np.full_like(x, np.nan)
    s_prev = np.zeros(s_count)
    mu = np.full(s_count, np.nan)
    sd = np.full(s_count, np.nan)
    ref_events = np.full(s_count, np.nan)
    r_prev = np.zeros(s_count, dtype=np.int64)
    st_prev = np.full(s_count, -1, dtype=np.int64)
    w = settings.window_months
    for t in range(m_count):
        lo = max(0, t - w)
        med, spread, n = _nan_stats(x[:, lo:t]) if t else (mu, sd, np.zeros(s_count))
        enough = n >= settings.min_history_months
        update = (s_prev <= 0) & enough
        if counts is not None and t:
            o = np.nansum(counts.events[:, lo:t], axis=1)
            e = np.nansum(counts.expected[:, lo:t], axis=1)
            med = np.where(counts.rows, np.log((o + 0.5) / (e + 0.5)), med)
            spread = np.where(counts.rows, counts.spread, spread)
            ref_events = np.where(update, o, ref_events)
        mu = np.where(update, med, mu)
        floor = (
            settings.spread_floor
            if counts is None
            else np.where(counts.rows, 0.0, settings.spread_floor)
        )
        sd = np.where(update, np.maximum(np.nan_to_num(spread), floor), sd)
        xt = x[:, t]
        live = np.isfinite(xt) & np.isfinite(mu)
        sd_t = sd if noise is None else np.sqrt(sd**2 + np.nan_to_num(noise[:, t]) ** 2)
        if counts is not None:
            # Poisson: the month's expected events at the reference rate, and the reference's own
            poisson = 1.0 / (np.exp(mu) * counts.expected[:, t] + 0.5) + 1.0 / (ref_events + 0.5)
            sd_t = np.where(counts.rows, np.sqrt(sd**2 + np.nan_to_num(poisson, nan=1.0)), sd_t)
        inc = (xt - mu) / sd_t - settings.cusum_k
        dev[:, t] = np.where(live & (enough | (s_prev > 0)), inc + settings.cusum_k, np.nan)
        s_now = np.where(live, np.maximum(0.0, s_prev + np.nan_to_num(inc)), s_prev)
        s_now = np.where(enough | (s_prev > 0), s_now, 0.0)
        r_now = np.where(s_now > 0, np.where(s_prev > 0, r_prev + 1, 1), 0)
        st_now = np.where(s_now > 0, np.where(s_prev > 0, st_prev, t), -1)
        stat[:, t], ref[:, t], run[:, t], start[:, t] = s_now, mu, r_now, st_now
        s_prev, r_prev, st_prev = s_now, r_now, st_now
    return stat, ref, run, start, dev


def pooled_cusum(dev: np.ndarray, series: pd.Index, settings: MonitorSettings) -> np.ndarray:
    """Each series' signal-level CUSUM: the indicators of one signal at one facility (lab
    tests, imaging, drug and supply lines per visit, say) pooled month by month.

    Why: over-billing raises several indicators of a signal a little at once; each alone
    may stay under the limit for months while together they are clear. The pooled
    deviation is Stouffer's sum of the members' standardised deviations over the square
    root of their number, accumulated by the same one-sided CUSUM; each member gets its
    group's statistic (a member still warns only on its own peer departure and rise).
    """
    levels = series.get_level_values("level").to_numpy()
    facilities = series.get_level_values("facility").to_numpy()
    signals = np.array([BY_NAME[i].signal for i in series.get_level_values("indicator")])
    keys = pd.MultiIndex.from_arrays([levels, facilities, signals])
    group, _ = pd.factorize(keys)
    n_groups = int(group.max()) + 1 if len(group) else 0
    out = np.zeros_like(dev)
    s_prev = np.zeros(n_groups)
    for t in range(dev.shape[1]):  # months; vectorised over groups
        d = dev[:, t]
        ok = np.isfinite(d)
        total = np.bincount(group[ok], weights=d[ok], minlength=n_groups)
        count = np.bincount(group[ok], minlength=n_groups)
        z = np.where(count > 0, total / np.sqrt(np.maximum(count, 1)), np.nan)
        s_now = np.where(
            count > 0, np.maximum(0.0, s_prev + np.nan_to_num(z) - settings.cusum_k), s_prev
        )
        # a signal of one indicator is that indicator's own CUSUM already
        out[:, t] = np.where(count[group] > 1, s_now[group], 0.0)
        s_prev = s_now
    return out


def _counts(series: pd.Index, events: np.ndarray, expected: np.ndarray) -> Counts | None:
    """The count indicators' events, peer-adjusted expected events and pooled spread.

    The extra-Poisson spread of a month around the facility's own level is one number per
    level and indicator, estimated over all its series (a facility's own few months say
    little about it, and mostly repeat its Poisson noise).
    """
    ind = series.get_level_values("indicator")
    rows = np.asarray(ind.isin(list(COUNT_INDICATORS)))
    if not rows.any():
        return None
    ev = np.where(rows[:, None], events, np.nan)
    ex = np.where(rows[:, None], expected, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.nansum(np.where(np.isfinite(ev), ev, 0), axis=1) / np.nansum(
            np.where(np.isfinite(ev), ex, 0), axis=1
        )
    xs, _ = smoothed_log_ratio(ev, ex)
    with _pywarnings.catch_warnings():
        _pywarnings.simplefilter("ignore", RuntimeWarning)
        own = np.nanmedian(xs, axis=1)
    var = 1.0 / (np.nan_to_num(level, nan=1.0)[:, None] * ex + 0.5)
    key = np.asarray(series.get_level_values("level").astype(str) + "|" + ind.astype(str))
    keys = np.repeat(key[:, None], ev.shape[1], axis=1)
    tau2 = extra_poisson_variance(
        (xs - own[:, None]).ravel(), var.ravel(), keys.ravel().astype(object)
    ).reshape(ev.shape)
    spread = np.sqrt(np.nanmax(np.where(rows[:, None], tau2, np.nan), axis=1, initial=0.0))
    return Counts(rows, ev, ex, np.where(rows, spread, np.nan))


def _run_peer_z(counts: Counts, run: np.ndarray, series: pd.Index) -> np.ndarray:
    """Funnel z of the events of the last L months against the same-month peer rates, the
    largest over L = 1 .. the CUSUM's run length: the peer test accumulates evidence as the
    CUSUM does.

    Why: one month of a small facility holds too few events to stand out from its peers
    however much it rose; the months of the rise together do. The CUSUM's run may begin
    with quiet months before the change, so the best-supported recent stretch is taken.
    The variance is Poisson in the stretch's expected events plus the peers' extra-Poisson
    spread of a single month (persistent differences between facilities do not shrink when
    months are added).
    """
    ev = np.nan_to_num(counts.events)
    ex = np.nan_to_num(counts.expected)
    zero = np.zeros((ev.shape[0], 1))
    ce = np.concatenate([zero, np.cumsum(ev, axis=1)], axis=1)
    cx = np.concatenate([zero, np.cumsum(ex, axis=1)], axis=1)
    m_xs, m_var = smoothed_log_ratio(counts.events, counts.expected)
    key = np.asarray(
        series.get_level_values("level").astype(str)
        + "|"
        + series.get_level_values("indicator").astype(str)
    )
    keys = np.repeat(key[:, None], ev.shape[1], axis=1)
    tau2 = extra_poisson_variance(m_xs.ravel(), m_var.ravel(), keys.ravel().astype(object)).reshape(
        ev.shape
    )
    months = ev.shape[1]
    best = np.full(ev.shape, -np.inf)
    for length in range(1, months + 1):  # stretch lengths, each vectorised over everything
        end = np.arange(length, months + 1)
        o = ce[:, end] - ce[:, end - length]
        e = cx[:, end] - cx[:, end - length]
        xs, var = smoothed_log_ratio(o, e)
        z = np.full(ev.shape, -np.inf)
        z[:, length - 1 :] = xs / np.sqrt(var + tau2[:, length - 1 :])
        best = np.where(length <= np.maximum(run, 1), np.maximum(best, z), best)
    return np.where(np.isfinite(counts.events), best, np.nan)


def _severity(score: np.ndarray) -> np.ndarray:
    return np.select([score >= 2.0, score >= 1.5], ["high", "medium"], "low")


def _pct(v: float) -> str:
    return f"{v * 100:+.0f}%"


def _sentences(w: pd.DataFrame) -> list[str]:
    """The reviewer's sentence of each warning: its rise, run length and the peers' change."""
    return [
        f"{BY_NAME[i].label} (mix-adjusted) up {r * 100:.0f}% over {m} month"
        f"{'s' if m != 1 else ''}; {'same-tier' if lv == 'facility' else 'other'} "
        f"peers {_pct(pc) if np.isfinite(pc) else 'n/a'}"
        for i, r, m, lv, pc in zip(
            w["indicator"], w["rise"], w["run_months"], w["level"], w["peer_change"], strict=True
        )
    ]


def _alarm(
    stat: np.ndarray, z: np.ndarray, rise: np.ndarray, n: np.ndarray, settings: MonitorSettings
) -> np.ndarray:
    """Series x month: a departure from its own history (CUSUM) and from its peers (z), a
    rise large enough to matter, on enough claims."""
    with np.errstate(invalid="ignore"):
        return np.asarray(
            (stat > settings.cusum_h)
            & (z > settings.peer_z)
            & (rise > settings.min_rise)
            & (n >= settings.min_claims)
        )


def _wide(t: pd.DataFrame) -> tuple[np.ndarray, dict[str, pd.DataFrame]]:
    """The sorted months, and per column a series x month table of the indicators."""
    months = np.sort(t["month"].unique())
    idx = t.set_index([*_SERIES, "month"])
    wide = {
        c: idx[c].unstack("month").reindex(columns=months)
        for c in ("ratio", "peer_ratio", "expected_total", "z", "n_claims", "value", "expected")
    }
    return months, wide


def find_warnings(indicators: pd.DataFrame, settings: MonitorSettings) -> pd.DataFrame:
    """Warnings (columns :data:`WARNING_COLUMNS`) from the tidy monthly indicators."""
    t = indicators[indicators["level"] != "fund"]  # the fund has no peers to depart from
    if t.empty:
        return pd.DataFrame({c: [] for c in WARNING_COLUMNS})
    months, wide = _wide(t)
    series = wide["ratio"].index
    ratio, peer, expected_total = (
        wide[c].to_numpy(dtype=np.float64) for c in ("ratio", "peer_ratio", "expected_total")
    )
    x = np.log(np.clip(ratio / peer, 1e-3, None))
    # Poisson noise of a month's count, 1/sqrt(expected events), adds to the own spread
    noise = 1.0 / np.sqrt(np.maximum(expected_total, 1.0))
    counts = _counts(series, ratio * expected_total, expected_total * peer)
    if counts is not None:
        xs, _ = smoothed_log_ratio(counts.events, counts.expected)
        x = np.where(counts.rows[:, None], xs, x)
    stat, ref, run, start, dev = cusum(x, settings, noise, counts)
    if settings.pool_signal:
        stat = np.maximum(stat, pooled_cusum(dev, series, settings))
    rise = np.exp(x - ref) - 1.0
    z = wide["z"].to_numpy(dtype=np.float64)
    if counts is not None:
        z = np.where(counts.rows[:, None], _run_peer_z(counts, run, series), z)
    n = wide["n_claims"].to_numpy(dtype=np.float64)
    si, mi = np.nonzero(_alarm(stat, z, rise, n, settings))
    if len(si) == 0:
        return pd.DataFrame({c: [] for c in WARNING_COLUMNS})
    info = t.drop_duplicates(_SERIES).set_index(_SERIES)[["province", "tier"]].reindex(series)
    out = pd.DataFrame(
        {
            "level": series.get_level_values("level")[si],
            "facility": series.get_level_values("facility")[si],
            "province": info["province"].to_numpy()[si],
            "tier": info["tier"].to_numpy()[si],
            "month": months[mi],
            "indicator": series.get_level_values("indicator")[si],
            "cusum": stat[si, mi],
            "rise": rise[si, mi],
            "z": z[si, mi],
            "run_months": run[si, mi],
            "run_start": months[np.maximum(start[si, mi], 0)],
            "value": wide["value"].to_numpy()[si, mi],
            "expected": wide["expected"].to_numpy()[si, mi],
        }
    )
    score = np.minimum(out["cusum"] / settings.cusum_h, out["z"] / max(settings.peer_z, 1e-9))
    out["score"] = score.astype(np.float64)
    out["severity"] = _severity(out["score"].to_numpy())
    out["signal"] = out["indicator"].map(lambda i: BY_NAME[i].signal)
    out["peer_change"] = _peer_change(t, out, months)
    out["sentence"] = _sentences(out)
    out["method"] = METHOD
    return (
        out[list(WARNING_COLUMNS)]
        .sort_values(["score", "level", "facility", "month"], ascending=[False, True, True, True])
        .reset_index(drop=True)
    )


def _peer_change(t: pd.DataFrame, w: pd.DataFrame, months: np.ndarray) -> np.ndarray:
    """Change of the peers' median raw value over the warning's run (same tier for
    facilities, all provinces for provinces): month vs the month before the run."""
    peer_key = np.where(t["level"] == "facility", t["tier"], "all")
    med = t.assign(peer=peer_key).groupby(["level", "peer", "indicator", "month"])["value"].median()
    wk = np.where(w["level"] == "facility", w["tier"], "all")
    pos = np.searchsorted(months, w["run_start"].to_numpy()) - 1
    before = np.where(pos >= 0, months[np.maximum(pos, 0)], "")
    now = med.reindex(pd.MultiIndex.from_arrays([w["level"], wk, w["indicator"], w["month"]]))
    then = med.reindex(pd.MultiIndex.from_arrays([w["level"], wk, w["indicator"], before]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(now.to_numpy(dtype=np.float64) / then.to_numpy(dtype=np.float64) - 1.0)
