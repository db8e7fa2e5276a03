"""The model bundle: everything scoring needs, saved so that it refuses to be misused.

A bundle holds the fitted detectors (one per entity type), the peer tables fitted on the
training data, the exact feature lists, training feature statistics (for reasons and
drift), the settings, library versions and the training data fingerprint.

File format (``save_bundle``): a joblib file holding ``(header, payload)`` where ``header``
is a plain dict (format, versions, feature lists, SHA-256 of the payload) and ``payload``
the pickled :class:`Bundle`. ``load_bundle`` reads and checks the header *before* any
scikit-learn object is unpickled, so a bundle from an incompatible claimguard or
scikit-learn version, or a damaged file, fails with :class:`ModelError` saying what differs
instead of scoring silently differently. ``NAME.model_card.json`` is written beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from claimguard import __version__
from claimguard.errors import ModelError
from claimguard.model.detector import ClaimDetector
from claimguard.model.evidence import EvidenceSettings, FittedEvidence, combine, weigh
from claimguard.settings import Settings

log = logging.getLogger(__name__)

ENTITY_TYPES: tuple[str, ...] = ("card", "facility")
FORMAT_VERSION = 2  # 2: evidence-weighted scores (claimguard.model.evidence)
_HIST_BINS = 10


def library_versions() -> dict[str, str]:
    """Versions that decide whether a saved model scores the same way here."""
    import sklearn

    return {
        "claimguard": __version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _major_minor(v: str) -> str:
    return ".".join(str(v).split(".")[:2])


def check_versions(saved: dict[str, str], where: str) -> None:
    """Raise ModelError when claimguard or scikit-learn differ in major.minor version."""
    here = library_versions()
    differ = [
        f"{lib} {saved.get(lib, '?')} (bundle) vs {here[lib]} (installed)"
        for lib in ("claimguard", "scikit-learn")
        if _major_minor(saved.get(lib, "")) != _major_minor(here[lib])
    ]
    if differ:
        raise ModelError(
            "The model bundle was made by incompatible library versions: " + "; ".join(differ),
            where=where,
            fix="retrain with `claimguard train` in this environment, or install the versions "
            "the bundle was made with",
        )
    patch = [lib for lib in ("claimguard", "scikit-learn") if saved.get(lib) != here[lib]]
    if patch:
        log.warning("Bundle made with other patch versions of %s", ", ".join(patch))


def feature_stats(X: pd.DataFrame, bins: int = _HIST_BINS) -> pd.DataFrame:
    """Training statistics per feature: median, p90, p99, missing share, histogram.

    Histogram edges are training quantiles (deduplicated), so each bin holds a
    comparable share; drift (PSI) compares a scored period's shares with ``bin_shares``.
    """
    rows: dict[str, dict[str, Any]] = {}
    for name in X.columns:  # a loop over a few dozen features
        v = X[name].to_numpy(dtype=np.float64, na_value=np.nan)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            rows[str(name)] = {
                "median": np.nan,
                "p90": np.nan,
                "p99": np.nan,
                "missing_share": 1.0,
                "bin_edges": [],
                "bin_shares": [],
            }
            continue
        q = np.quantile(v, [0.5, 0.9, 0.99])
        edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
        if len(edges) < 2:
            edges = np.array([edges[0], edges[0] + 1.0])
        inner = edges[1:-1]
        counts = np.bincount(
            np.searchsorted(inner, v, side="right"), minlength=len(edges) - 1
        ).astype(np.float64)
        rows[str(name)] = {
            "median": float(q[0]),
            "p90": float(q[1]),
            "p99": float(q[2]),
            "missing_share": float(1.0 - len(v) / max(len(X), 1)),
            "bin_edges": [float(e) for e in edges],
            "bin_shares": [float(c) for c in counts / counts.sum()],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass
class Bundle:
    """A trained claimguard model: detectors, evidence, peers, features and provenance."""

    model_version: str
    settings: Settings
    peers: Any
    feature_names: dict[str, list[str]]
    feature_stats: dict[str, pd.DataFrame]
    detectors: dict[str, ClaimDetector]
    evidence: dict[str, list[FittedEvidence]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    trained_at: str = ""
    # reviewer-feedback adjustments per entity type (claimguard.model.feedback)
    feedback: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------- checks
    def check_features(self, fs: Any) -> None:
        """Raise ModelError naming trained features the scoring data lack."""
        problems = []
        for entity in self.detectors:
            table = getattr(fs, entity, None)
            have = set() if table is None else {str(c) for c in table.columns}
            missing = [f for f in self.required_features(entity) if f not in have]
            if missing:
                problems.append(f"{entity}: {', '.join(missing)}")
        if problems:
            raise ModelError(
                "The data to score lack features the model was trained on ("
                + "; ".join(problems)
                + ")",
                where=f"model {self.model_version}",
                fix="score data with the same optional tables/columns as the training data "
                "(see `claimguard validate`), or retrain on data like this",
            )

    def evidence_features(self, entity_type: str) -> list[str]:
        """Feature columns the evidence of ``entity_type`` reads (some not in the forest)."""
        cols: list[str] = []
        for item in self.evidence.get(entity_type, []):
            cols += [c for c in item.spec.columns if c not in cols]
        return cols

    def required_features(self, entity_type: str) -> list[str]:
        """Forest features, then evidence-only features: what scoring data must hold."""
        names = list(self.feature_names[entity_type])
        return names + [c for c in self.evidence_features(entity_type) if c not in names]

    def evidence_settings(self) -> EvidenceSettings:
        m = self.settings.model
        return EvidenceSettings(
            m.evidence_weight, m.evidence_cap, m.evidence_fire_level, m.evidence_floor
        )

    def _matrix(self, entity_type: str, X: pd.DataFrame) -> pd.DataFrame:
        names = self.feature_names[entity_type]
        missing = [f for f in self.required_features(entity_type) if f not in X.columns]
        if missing:
            raise ModelError(
                f"The {entity_type} features lack {', '.join(missing)}",
                where=f"model {self.model_version}",
                fix="build features with the bundle's peers and settings",
            )
        return X[names].astype(np.float64)

    # -------------------------------------------------------------- scoring
    def score_entity(
        self, entity_type: str, X: pd.DataFrame, feedback: bool = True
    ) -> pd.DataFrame:
        """Scores of one entity type's feature table (see :meth:`score`).

        With a reviewer-feedback adjustment (``claimguard train --feedback``) ``score`` is the
        adjusted one; ``feedback=False`` gives the unadjusted score.
        """
        M = self._matrix(entity_type, X)
        if len(M) == 0:  # e.g. a partition or period without facilities
            forest = np.zeros(0)
        else:
            forest = self.detectors[entity_type].score_samples(M)
        evidence, hard, hits = weigh(
            X, self.evidence.get(entity_type, []), self.evidence_settings()
        )
        final = combine(forest, evidence, hard)
        adjustment = self.feedback.get(entity_type) if feedback else None
        if adjustment is not None and len(M):
            final = adjustment.adjust(final, evidence, self.attributions(entity_type, X))
        return pd.DataFrame(
            {
                "score": final,
                "forest_score": forest,
                "rule_score": evidence,
                "hard_facts": hard,
                "rule_hits": hits.to_numpy(dtype=object),
            },
            index=X.index,
        )

    def score(self, fs: Any) -> dict[str, pd.DataFrame]:
        """Per entity type: score (final 0..1), forest_score, rule_score (evidence surprisal),
        hard_facts (claims beyond tolerance), rule_hits (JSON names of fired evidence)."""
        self.check_features(fs)
        return {e: self.score_entity(e, getattr(fs, e)) for e in self.detectors}

    def attributions(self, entity_type: str, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature attribution of the forest score (higher = pushes riskier)."""
        M = self._matrix(entity_type, X)
        if len(M) == 0:
            return pd.DataFrame(index=X.index, columns=M.columns, dtype=np.float64)
        values = self.detectors[entity_type].explain(M)
        return pd.DataFrame(values, index=X.index, columns=M.columns)


# ------------------------------------------------------------------ files
def save_bundle(bundle: Bundle, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write the bundle (joblib) and ``NAME.model_card.json`` beside it; returns the bundle path."""
    from claimguard.model.model_card import card_path, model_card

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps(bundle, protocol=5)
    header = {
        "format": FORMAT_VERSION,
        "model_version": bundle.model_version,
        "versions": bundle.versions,
        "feature_names": bundle.feature_names,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    joblib.dump((header, payload), path, compress=3)
    card = card if card is not None else model_card(bundle)
    card_path(path).write_text(json.dumps(card, indent=2, default=str))
    return path


def _corrupt(where: str, why: str) -> ModelError:
    return ModelError(
        f"The model bundle cannot be read ({why})",
        where=where,
        fix="point --model at a bundle written by `claimguard train`, or retrain",
    )


def load_bundle(path_or_uri: str | Path) -> Bundle:
    """Load a bundle from a file or ``models:/NAME@alias`` / ``models:/NAME/VERSION``."""
    text = str(path_or_uri)
    if text.startswith("models:/") or text.startswith("runs:/"):
        from claimguard.model.tracking import download_bundle

        with tempfile.TemporaryDirectory(prefix="claimguard-model-") as tmp:
            return load_bundle(download_bundle(text, Path(tmp)))
    path = Path(text)
    if not path.is_file():
        raise ModelError(
            "The model bundle does not exist",
            where=text,
            fix="train one with `claimguard train DATA --model-out PATH`, or give models:/NAME@alias",
        )
    try:
        loaded = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise _corrupt(text, f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], dict)):
        raise _corrupt(text, "not a claimguard bundle")
    header, payload = loaded
    if header.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"Bundle format {header.get('format')} is not the supported {FORMAT_VERSION}",
            where=text,
            fix="retrain with this claimguard version",
        )
    check_versions(header.get("versions", {}), text)
    if not isinstance(payload, bytes) or hashlib.sha256(payload).hexdigest() != header.get(
        "sha256"
    ):
        raise _corrupt(text, "checksum mismatch")
    try:
        bundle = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001
        raise _corrupt(text, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(bundle, Bundle):
        raise _corrupt(text, "payload is not a Bundle")
    return bundle
