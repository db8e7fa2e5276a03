"""ClaimDetector: a scikit-learn isolation forest that speaks claimguard's score vocabulary.

Why a wrapper at all: scikit-learn's ``IsolationForest`` says *lower* = more abnormal and
its raw scores drift with the data; reviewers and queues need one meaning everywhere.
This estimator (PyOD's vocabulary, see docs/contract.md section 6) converts in exactly one place:

* ``raw`` = ``-IsolationForest.score_samples`` = ``2 ** (-E[h(x)] / c(psi))`` in (0, 1],
  the classic isolation score (0.5 = as hard to isolate as an average point, 1 = isolated
  at the root);
* ``score_samples`` = the **empirical CDF of the training raw scores**, read off 1001
  training quantiles with linear interpolation and extended linearly from the training
  maximum (probability n/(n+1)) to raw = 1 (probability 1). So 0.99 means "riskier than
  99% of the entities the model was trained on" whatever the forest's size or data, the
  map is strictly increasing (ranks are never tied away) and always within 0..1.

Preprocessing is fitted on the training data: missing values become the training median
(no evidence = typical), then each feature is robust-scaled ``(x - median) / spread``
(spread = IQR, falling back to p99 - median, then 1) and compressed with
``sign(z) * log1p(|z|)`` so that heavy tails still isolate quickly without stretching the
split range for everybody else. With ``one_sided=True`` (default) values below the median
are clipped to it: claimguard's features are oriented "higher = more suspicious", so an
unusually *low* count is not a reason to alert.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import joblib
import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

_N_QUANTILES = 1001
_BLOCK = 65_536  # rows per scoring block (bounded temporaries, work for every thread)
_EULER = np.euler_gamma


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): expected path length of an unsuccessful BST search among n points (Liu et al.)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    two = n == 2
    big = n > 2
    out[two] = 1.0
    nb = n[big]
    out[big] = 2.0 * (np.log(nb - 1.0) + _EULER) - 2.0 * (nb - 1.0) / nb
    return out


_FNV_PRIME = np.uint64(0x100000001B3)


def _distinct_rows(Z: np.ndarray, max_share: float = 0.8) -> tuple[np.ndarray, np.ndarray] | None:
    """(first row of each distinct row, each row's distinct number) when at most
    ``max_share`` of the rows are distinct, else None.

    Why: most insured people have one or two ordinary visits a month, so up to half of a
    month's cards have a feature vector another card already has; the forest need not walk
    them twice. Rows are grouped by a hash of their bits and every group is then checked
    for exact equality, so the scores are bit-identical to scoring every row.
    """
    n = Z.shape[0]
    if n < 2 * _BLOCK:
        return None
    words = np.ascontiguousarray(Z, dtype=np.float32).view(np.uint32)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(words.shape[1]):  # a loop over columns, not rows
        h = (h ^ words[:, j].astype(np.uint64)) * _FNV_PRIME
    codes, uniques = pd.factorize(h)
    if len(uniques) > max_share * n:
        return None
    _, first = np.unique(codes, return_index=True)  # codes are 0..k-1: first[k] is code k's
    if not np.array_equal(Z[first][codes], Z):  # a hash collision: score every row
        return None
    return first, codes.astype(np.intp)


class ClaimDetector(BaseEstimator):  # type: ignore[misc]  # scikit-learn has no type stubs
    """Isolation-forest anomaly detector: higher score = riskier, scores in 0..1.

    Parameters mirror :class:`sklearn.ensemble.IsolationForest`; ``contamination`` only sets
    ``threshold_`` (the training-score quantile above which :meth:`predict` says 1), and
    ``scaling`` chooses the preprocessing (``"robust"``: see module docstring;
    ``"quantile"``: training-CDF rank of each feature; ``"none"``: imputation only).

    Example::

        det = ClaimDetector(n_estimators=100, random_state=0).fit(X_train)
        risk = det.score_samples(X_new)          # 0..1, higher = riskier
        why = det.explain(X_new)                 # (n, n_features), higher = pushes riskier
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_samples": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "max_features": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "scaling": [StrOptions({"robust", "quantile", "none"})],
        "one_sided": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        n_estimators: int = 200,
        max_samples: int | float | str = 256,
        max_features: int | float = 1.0,
        contamination: float = 0.01,
        scaling: str = "robust",
        one_sided: bool = True,
        random_state: int | np.random.RandomState | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.contamination = contamination
        self.scaling = scaling
        self.one_sided = one_sided
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = False
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> ClaimDetector:
        """Fit preprocessing on X, then the forest, then the training-score CDF. Returns self."""
        self._validate_params()
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=True)
        self._fit_preprocessing(X)
        Z = self._transform(X)
        n = Z.shape[0]
        max_samples = self.max_samples
        if isinstance(max_samples, Integral) and not isinstance(max_samples, bool):
            max_samples = min(int(max_samples), n)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=max_samples,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(Z)
        self._fit_leaf_depths()
        self._fit_credits()
        raw = self._raw(Z)
        probs = np.linspace(0.0, 1.0, _N_QUANTILES) * (n / (n + 1.0))
        knots = np.quantile(raw, np.linspace(0.0, 1.0, _N_QUANTILES))
        self.cdf_x_ = np.append(knots, max(1.0, float(knots[-1]) + 1e-12))
        self.cdf_p_ = np.append(probs, 1.0)
        train_scores = np.interp(raw, self.cdf_x_, self.cdf_p_)
        self.threshold_ = float(np.quantile(train_scores, 1.0 - self.contamination))
        return self

    def _fit_preprocessing(self, X: np.ndarray) -> None:
        allnan = np.all(np.isnan(X), axis=0)
        safe = np.where(allnan[None, :], 0.0, X)
        q25, q50, q75, q99 = np.nanquantile(safe, [0.25, 0.5, 0.75, 0.99], axis=0)
        self.median_ = q50
        spread = q75 - q25
        spread = np.where(spread > 0, spread, q99 - q50)
        self.spread_ = np.where(spread > 0, spread, 1.0)
        if self.scaling == "quantile":
            filled = np.where(np.isnan(safe), q50[None, :], safe)
            self.quantiles_ = np.quantile(filled, np.linspace(0, 1, 201), axis=0)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        """Impute, scale and compress (see module docstring); returns float32 for the forest."""
        # in place on the one copy np.where makes (the same operations, same values): a
        # month's cards x features in float64 is large, and each temporary costs a pass
        X = np.where(np.isnan(X), self.median_[None, :], X)
        if self.one_sided:
            np.maximum(X, self.median_[None, :], out=X)
        if self.scaling == "robust":
            X -= self.median_
            X /= self.spread_
            sign = np.sign(X)
            np.abs(X, out=X)
            np.log1p(X, out=X)
            X *= sign
            Z = X
        elif self.scaling == "quantile":
            grid = np.linspace(0, 1, self.quantiles_.shape[0])
            Z = np.column_stack(
                [
                    np.interp(X[:, j], self.quantiles_[:, j], grid)
                    for j in range(X.shape[1])  # a loop over columns, not rows
                ]
            )
        else:
            Z = X
        return np.ascontiguousarray(Z, dtype=np.float32)

    def _fit_leaf_depths(self) -> None:
        """Per tree, h(x) at each leaf: its depth plus c(leaf size) (Liu et al.'s path length)."""
        self.leaf_depths_ = []
        for tree in self.forest_.estimators_:
            t = tree.tree_
            depth = np.zeros(t.node_count, dtype=np.float64)
            # sklearn numbers nodes depth-first, so a parent always precedes its children
            for node in np.flatnonzero(t.children_left >= 0):
                depth[t.children_left[node]] = depth[node] + 1.0
                depth[t.children_right[node]] = depth[node] + 1.0
            self.leaf_depths_.append(depth + average_path_length(t.n_node_samples))

    def _depth_block(self, Z: np.ndarray) -> np.ndarray:
        out = np.zeros(Z.shape[0], dtype=np.float64)
        n_all = Z.shape[1]
        for tree, feats, leaf_depth in zip(
            self.forest_.estimators_,
            self.forest_.estimators_features_,
            self.leaf_depths_,
            strict=True,
        ):
            sub = Z if len(feats) == n_all else np.ascontiguousarray(Z[:, feats])
            out += leaf_depth[tree.apply(sub, check_input=False)]
        return out

    def _per_distinct_row(
        self, Z: np.ndarray, block_fn: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """``block_fn`` over row blocks on ``n_jobs`` threads, stacked in block order, each
        distinct row computed once when many rows repeat (``_distinct_rows``)."""
        distinct = _distinct_rows(Z)
        if distinct is not None:  # many cards share one feature vector: walk each once
            first, inverse = distinct
            once = self._per_distinct_row(np.ascontiguousarray(Z[first]), block_fn)
            return np.asarray(once[inverse])
        blocks = [Z[i : i + _BLOCK] for i in range(0, Z.shape[0], _BLOCK)]
        n_jobs = min(self.n_jobs or 1, max(len(blocks), 1))
        if n_jobs > 1:
            parts = joblib.Parallel(n_jobs=n_jobs, prefer="threads")(
                joblib.delayed(block_fn)(b) for b in blocks
            )
        else:
            parts = [block_fn(b) for b in blocks]
        if not parts:
            return block_fn(Z[:0])
        return np.concatenate(parts)

    def _raw(self, Z: np.ndarray) -> np.ndarray:
        """Isolation score 2**(-E[h]/c(psi)) in (0, 1], higher = riskier.

        Same value as ``-IsolationForest.score_samples``, but computed over row blocks on
        ``n_jobs`` threads with trees summed in a fixed order, so the result is bit-identical
        whatever the thread timing or ``n_jobs`` (scikit-learn sums trees across threads in
        arrival order).
        """
        depths = self._per_distinct_row(Z, self._depth_block)
        mean_depth = depths / len(self.forest_.estimators_)
        c = average_path_length(np.array([self.forest_.max_samples_]))[0]
        if c == 0:
            return np.ones_like(mean_depth)
        return np.asarray(2.0 ** (-mean_depth / c))

    def _check(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False)
        return self._transform(X)

    # ------------------------------------------------------------------ scoring
    def raw_score(self, X: Any) -> np.ndarray:
        """The forest's isolation score in (0, 1] before the training-CDF map (higher = riskier)."""
        return self._raw(self._check(X))

    def score_samples(self, X: Any) -> np.ndarray:
        """Risk in 0..1: the training-CDF of the isolation score (higher = riskier)."""
        raw = self._raw(self._check(X))
        return np.asarray(np.interp(raw, self.cdf_x_, self.cdf_p_))

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples - threshold_``: positive = above the contamination threshold."""
        check_is_fitted(self)
        return self.score_samples(X) - self.threshold_

    def predict(self, X: Any) -> np.ndarray:
        """1 = anomalous (above ``threshold_``), 0 = normal (PyOD's ``labels_`` convention)."""
        check_is_fitted(self)
        return (self.decision_function(X) > 0).astype(np.int64)

    def explain(self, X: Any) -> np.ndarray:
        """Per-feature attribution of the isolation depth, higher = pushes riskier.

        For every tree and every split on a sample's path from node p (n_p training points)
        into child j (n_j points), the split's feature is credited with
        ``c(n_p) - 1 - c(n_j)``: how much that split shortened the expected remaining path
        (the child's expected depth plus the one step taken, against the parent's). Along a
        path these credits telescope to ``c(psi) - h(x)``, so each row sums to
        ``c(psi) - E[h(x)]`` (averaged over trees): positive exactly when the sample is
        isolated faster than average, i.e. the quantity the isolation score is monotone in.
        Vectorised per tree as ``decision_path(X) @ credit_matrix``.
        """
        Z = self._check(X)
        if not hasattr(self, "credits_"):  # bundles saved before credits were cached
            self._fit_credits()
        return self._per_distinct_row(Z, self._explain_block) / len(self.forest_.estimators_)

    def _fit_credits(self) -> None:
        """Per tree, a sparse (nodes x features) matrix of split credits (see explain)."""
        n_features = self.n_features_in_
        self.credits_ = []
        for tree, feats in zip(
            self.forest_.estimators_, self.forest_.estimators_features_, strict=True
        ):
            t = tree.tree_
            n_nodes = t.node_count
            parent = np.full(n_nodes, -1, dtype=np.int64)
            internal = np.flatnonzero(t.children_left >= 0)
            parent[t.children_left[internal]] = internal
            parent[t.children_right[internal]] = internal
            child = np.flatnonzero(parent >= 0)
            counts = t.n_node_samples.astype(np.float64)
            credit = (
                average_path_length(counts[parent[child]])
                - 1.0
                - average_path_length(counts[child])
            )
            feat = np.asarray(feats)[t.feature[parent[child]]]
            self.credits_.append(
                sparse.csr_matrix((credit, (child, feat)), shape=(n_nodes, n_features))
            )

    def _explain_block(self, Z: np.ndarray) -> np.ndarray:
        total = np.zeros((Z.shape[0], Z.shape[1]), dtype=np.float64)
        n_all = Z.shape[1]
        for tree, feats, M in zip(
            self.forest_.estimators_,
            self.forest_.estimators_features_,
            self.credits_,
            strict=True,
        ):
            sub = Z if len(feats) == n_all else np.ascontiguousarray(Z[:, feats])
            total += (tree.decision_path(sub) @ M).toarray()
        return total
