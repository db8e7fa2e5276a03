"""ClaimDetector: the scikit-learn contract, the score vocabulary and the attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from claimguard.model.detector import ClaimDetector, average_path_length

# No check is expected to fail. The detector is deliberately not an OutlierMixin (it uses
# PyOD's "higher = more abnormal, predict 1 = anomaly" vocabulary, not scikit-learn's -1/+1
# and "lower = abnormal"), so scikit-learn does not run its outlier-sign checks on it; the
# one skip left comes from scikit-learn itself (array-API checks need SCIPY_ARRAY_API=1).
_SKIPS: dict[str, str] = {}


def _expected_failed_checks(estimator: ClaimDetector) -> dict[str, str]:
    return _SKIPS


@parametrize_with_checks(
    [ClaimDetector(n_estimators=10, random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.lognormal(sigma=0.25, size=(n, 6))
    y = np.zeros(n, dtype=int)
    y[:20] = 1
    X[:20, 2] *= 20.0  # a planted high value on feature 2 ...
    X[:20, 4] *= 5.0  # ... and a milder one on feature 4
    return X, y


def test_planted_outliers_score_above_inliers_in_zero_one():
    X, y = _data()
    det = ClaimDetector(n_estimators=100, random_state=0).fit(X)
    s = det.score_samples(X)
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert s[y == 1].min() > np.median(s[y == 0])
    assert average_precision_score(y, s) > 0.8
    assert np.array_equal(det.predict(X), (det.decision_function(X) > 0).astype(int))


def test_scores_are_training_cdf_and_strictly_monotone_in_raw():
    X, _ = _data()
    det = ClaimDetector(n_estimators=50, random_state=1).fit(X)
    s = det.score_samples(X)
    # about 10% of the training set is above the training 0.9 quantile
    assert abs((s > 0.9).mean() - 0.1) < 0.02
    raw = det.raw_score(X)
    order = np.argsort(raw)
    assert np.all(np.diff(s[order]) >= 0)
    # something riskier than anything in training still ranks above the training maximum
    far = X[:1].copy()
    far[0, :] = X.max(axis=0) * 100
    assert det.score_samples(far)[0] >= s.max()


def test_explain_decomposes_the_isolation_depth_and_names_the_planted_feature():
    X, y = _data()
    det = ClaimDetector(n_estimators=50, max_features=0.7, random_state=0).fit(X)
    attr = det.explain(X[:50])
    assert attr.shape == (50, X.shape[1])
    c = average_path_length(np.array([256]))[0]
    depth = -np.log2(det.raw_score(X[:50])) * c
    np.testing.assert_allclose(attr.sum(axis=1), c - depth, rtol=1e-6, atol=1e-9)
    assert np.isin(attr[:20].argmax(axis=1), [2, 4]).mean() > 0.9
    planted = attr[:20][:, [2, 4]].sum(axis=1)
    assert np.all(planted > attr[:20][:, [0, 1, 3, 5]].sum(axis=1))


def test_missing_values_are_typical_and_low_values_not_suspicious():
    X, _ = _data()
    det = ClaimDetector(n_estimators=50, random_state=0).fit(X)
    probe = np.vstack([np.full(6, np.nan), np.zeros(6), np.median(X, axis=0)])
    s = det.score_samples(probe)
    assert s[0] == pytest.approx(s[2]) and s[1] == pytest.approx(s[2])


def test_unfitted_and_bad_params_raise():
    with pytest.raises(NotFittedError):
        ClaimDetector().score_samples(np.ones((3, 2)))
    with pytest.raises(ValueError, match="scaling"):
        ClaimDetector(scaling="zscore").fit(np.ones((10, 2)))


def test_same_seed_bit_identical_and_clone_keeps_params():
    X, _ = _data()
    a = ClaimDetector(n_estimators=30, random_state=3, n_jobs=2).fit(X).score_samples(X)
    b = ClaimDetector(n_estimators=30, random_state=3, n_jobs=1).fit(X).score_samples(X)
    assert np.array_equal(a, b)
    det = ClaimDetector(n_estimators=30, max_features=0.5, random_state=3)
    sk = det.fit(X).forest_.score_samples(det._transform(X))
    np.testing.assert_allclose(det.raw_score(X), -sk, rtol=1e-12)  # same isolation score
    det = ClaimDetector(n_estimators=7, scaling="quantile")
    assert clone(det).get_params() == det.get_params()


def test_dataframe_feature_names_are_checked():
    X, _ = _data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    det = ClaimDetector(n_estimators=10, random_state=0).fit(df)
    assert list(det.feature_names_in_) == list(df.columns)
    with pytest.raises(ValueError):
        det.score_samples(df[df.columns[::-1]])


def test_pipeline_and_grid_search_with_label_scorer():
    X, y = _data(1500)
    pipe = make_pipeline(FunctionTransformer(np.log1p), ClaimDetector(random_state=0))

    def ap(est, X_, y_):
        return average_precision_score(y_, est.score_samples(X_))

    grid = GridSearchCV(
        pipe,
        {"claimdetector__n_estimators": [10, 30], "claimdetector__scaling": ["robust", "none"]},
        scoring=ap,
        cv=2,
    ).fit(X, y)
    assert grid.best_score_ > 0.2  # base rate 0.013
    assert grid.best_estimator_.score_samples(X).shape == (len(X),)


@pytest.mark.slow
def test_repeated_feature_vectors_are_scored_once_with_identical_results():
    """Cards sharing a feature vector are walked through the forest once; the scores are
    bit-identical to walking every row (and a month of distinct rows takes the plain path)."""
    import claimguard.model.detector as det

    rng = np.random.default_rng(3)
    common = rng.normal(size=(40, 4)).round(1)
    X = np.vstack([common[rng.integers(0, 40, 150_000)], rng.normal(size=(2_000, 4))])
    model = ClaimDetector(n_estimators=20, max_samples=256, random_state=0).fit(X[::50])
    Z = model._check(X)
    distinct = det._distinct_rows(Z)
    assert distinct is not None and len(distinct[0]) < 2_100
    blocks = [Z[i : i + det._BLOCK] for i in range(0, len(Z), det._BLOCK)]
    every_row = np.concatenate([model._depth_block(b) for b in blocks])
    c = average_path_length(np.array([model.forest_.max_samples_]))[0]
    expected = 2.0 ** (-(every_row / len(model.forest_.estimators_)) / c)
    np.testing.assert_array_equal(model.raw_score(X), expected)
    # the attribution too: one row of credits per input row, equal to the row-by-row walk
    credits = np.concatenate([model._explain_block(b) for b in blocks])
    np.testing.assert_allclose(model.explain(X), credits / len(model.forest_.estimators_))
    assert det._distinct_rows(rng.normal(size=(150_000, 4)).astype(np.float32)) is None
