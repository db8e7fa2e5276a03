"""How improbable a count or a z-score is under the training population: the fits behind
claimguard.model.evidence.

Why apart: these are plain statistics (Poisson and negative-binomial tails, rates per
volume band read off the share of entities without an event, robust z spreads) with no
knowledge of claims or signals, tested on their own; the evidence module decides what is
weighed and how it is combined.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LN10 = math.log(10.0)


def count_surprisal(k: np.ndarray, mu: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """-log10 P(K >= k) for K ~ Poisson(mu) (alpha = 0) or NB(mean mu, var mu + alpha mu^2).

    ``alpha`` per row or one value; computed only where k > 0 (0 elsewhere), in scipy.
    """
    k = np.asarray(k, dtype=np.float64)
    mu = np.maximum(np.asarray(mu, dtype=np.float64), 1e-12)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), k.shape)
    out = np.zeros(len(k))
    rows = np.flatnonzero(k > 0)
    if len(rows) == 0:
        return out
    kk, mm, aa = k[rows] - 1.0, mu[rows], a[rows]
    logsf = stats.poisson.logsf(kk, mm)
    nb = aa > 0
    if nb.any():
        size = 1.0 / aa[nb]
        logsf[nb] = stats.nbinom.logsf(kk[nb], size, size / (size + mm[nb]))
    out[rows] = np.maximum(-logsf / LN10, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=300.0)


N_BANDS = 7  # volume bands 1, 2-3, 4-7, ..., 64+ (powers of two)
BAND_PRIOR = 200.0  # entities' worth of the next lighter band's rate mixed into a band's


def volume_band(n: np.ndarray, n_bands: int = N_BANDS) -> np.ndarray:
    """Volume band of each entity: floor(log2(exposure)), the last band open-ended."""
    b = np.floor(np.log2(np.maximum(np.asarray(n, dtype=np.float64), 1.0))).astype(np.int64)
    return np.minimum(b, n_bands - 1)


TRIM_QUANTILE = 0.99  # the bulk a band's dispersion is measured on
MIN_DISPERSION_EVENTS = 30  # entities with an event (in the bulk) needed to measure it


def band_fit(k: np.ndarray, n: np.ndarray, repeat_robust: bool = False) -> tuple[float, float]:
    """(rate per exposure unit, NB alpha) of one volume band.

    The dispersion is a method-of-moments alpha, ``sum((k - mu)^2 - k) / sum(mu^2)``, on the
    band's bulk (counts up to its 99th percentile), and only where that bulk holds at least
    ``MIN_DISPERSION_EVENTS`` entities with an event: a common legitimate pattern (antibiotics
    refilled by a child seen every week) shows its spread there, while a rare one -- whose
    few carriers may all be abuse -- stays Poisson. The rate comes from the share of
    entities *without* the event under that distribution,
    ``P(K = 0) = exp(-mu)`` or ``(1 + alpha mu)^(-1/alpha)``: an entity with twenty events
    counts as one with one, so a few extreme entities (the abuse itself) cannot inflate it.

    With ``repeat_robust`` a Poisson band's rate is at most the one-event estimate
    ``P(K = 1) / P(K = 0) = mu``: entities with two or more events then do not count at
    all. Why: for a rare pattern (one sitting billed as several claims) most training
    entities with an event can be the abuse itself, repeated; an ordinary entity has
    one. Only where the bulk is Poisson: an over-dispersed bulk has fewer ones than that.
    """
    m = len(k)
    p0 = (float((k == 0).sum()) + 0.5) / (m + 1.0)
    alpha = 0.0
    if m:
        bulk = k <= float(np.quantile(k, TRIM_QUANTILE))
        kt, nt = k[bulk], n[bulk]
        if int((kt > 0).sum()) >= MIN_DISPERSION_EVENTS:
            mu = kt.sum() / max(float(nt.sum()), 1.0) * nt
            alpha = max(float(((kt - mu) ** 2 - kt).sum() / max(float((mu**2).sum()), 1e-12)), 0.0)
    mean_mu = -math.log(p0) if alpha == 0 else (p0 ** (-alpha) - 1.0) / alpha
    if repeat_robust and alpha == 0 and m:
        mean_mu = min(mean_mu, (float((k == 1).sum()) + 0.5) / (float((k == 0).sum()) + 1.0))
    return mean_mu / max(float(n.mean()) if m else 1.0, 1.0), alpha


def fit_counts(
    k: np.ndarray, n: np.ndarray, repeat_robust: bool = False
) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """(overall rate, rate per volume band, NB alpha per volume band) of training counts.

    Per volume band because heavy users have more of every event per visit than light ones;
    each band's fit (``band_fit``) is shrunk towards the next lighter band's (the first
    band's towards the overall fit) with ``BAND_PRIOR`` entities, so a band of a few dozen
    heavy users, planted abuse among them, does not set its own rate.
    """
    if len(k) == 0:
        return 0.5, (), ()
    rate, alpha = band_fit(k, n, repeat_robust)
    band = volume_band(n)
    rates: list[float] = []
    alphas: list[float] = []
    for b in range(N_BANDS):  # seven bands
        inb = band == b
        m = int(inb.sum())
        r_b, a_b = band_fit(k[inb], n[inb], repeat_robust) if m else (rate, alpha)
        prior_r = rates[-1] if rates else rate
        prior_a = alphas[-1] if alphas else alpha
        rates.append((m * r_b + BAND_PRIOR * prior_r) / (m + BAND_PRIOR))
        alphas.append((m * a_b + BAND_PRIOR * prior_a) / (m + BAND_PRIOR))
    return rate, tuple(rates), tuple(alphas)


MIN_Z_ENTITIES = 20  # fewer facilities with a z-score than this: fit on all of them


def fit_z(z: np.ndarray) -> tuple[float, float]:
    """(median, robust spread) of a z feature on the training facilities.

    Facilities with nothing to compare (no inpatients for a length-of-stay z, say) have
    exactly 0 and are left out, or the spread of the others would look tiny.
    """
    z = z[np.isfinite(z)]
    if int((z != 0).sum()) >= MIN_Z_ENTITIES:
        z = z[z != 0]
    if len(z) == 0:
        return 0.0, 1.0
    center = float(np.median(z))
    mad = 1.4826 * float(np.median(np.abs(z - center)))
    # the z-scores are standard errors by construction: training data can show that they
    # spread wider (heterogeneity the features did not model), never that they are
    # narrower -- with sparse events most facilities sit at ~0 and the MAD collapses
    return center, max(mad, 1.0) if np.isfinite(mad) else 1.0
