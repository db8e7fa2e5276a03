"""The model bundle: everything scoring needs, saved so that it refuses to be misused.

A bundle holds the fitted detectors (one per entity type), the peer tables fitted on the
training data, the exact feature lists, training feature statistics (for reasons and
drift), the settings, library versions and the training data fingerprint.

File format (``save_bundle``): the line ``CLAIMGUARD-BUNDLE``, one line of header JSON
(format, versions, feature lists, SHA-256 of the payload, the signing key's id), one line
holding the HMAC-SHA256 of header and payload, then the payload: a ``skops.io`` archive of
the bundle's state. No pickle is involved: skops builds only the types in
``TRUSTED_TYPES`` (scikit-learn's forest and trees, numpy arrays, claimguard's own
detector and evidence classes), pandas frames are stored as plain arrays and the settings
as JSON. ``load_bundle`` reads and checks the header, its checksum and its signature
(claimguard.model.signing) *before* any object of the payload is built, so a bundle that
was altered, signed with another key, made by an incompatible claimguard or scikit-learn
version, or damaged fails with :class:`ModelError` saying what differs, instead of running
code or scoring silently differently. ``NAME.model_card.json`` is written beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from claimguard.errors import ModelError, output_error
from claimguard.features.build import FeatureSet
from claimguard.features.peers import PeerTables
from claimguard.io.atomic import replace_files
from claimguard.model import signing
from claimguard.model.combine import EvidenceSettings, combine, weigh
from claimguard.model.detector import ClaimDetector
from claimguard.model.evidence import FittedEvidence
from claimguard.model.state import decode, encode
from claimguard.model.versions import check_versions, library_versions
from claimguard.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: evidence-weighted scores; 3: signed skops payload, no pickle


@dataclass
class Bundle:
    """A trained claimguard model: detectors, evidence, peers, features and provenance."""

    model_version: str
    settings: Settings
    peers: PeerTables
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
    def check_features(self, fs: FeatureSet) -> None:
        """Raise ModelError naming trained features the scoring data lack."""
        problems = []
        for entity in self.detectors:
            have = {str(c) for c in fs.table(entity).columns}
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

    def seen(self, vocabulary: Literal["facilities", "diagnoses"]) -> frozenset[str] | None:
        """Facility ids or primary diagnoses of the training data (the fingerprint's
        ``seen_*`` lists), for drift's unseen shares; None for a bundle without them."""
        values = self.fingerprint.get(f"seen_{vocabulary}")
        return None if values is None else frozenset(str(v) for v in values)

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

    def score(self, fs: FeatureSet) -> dict[str, pd.DataFrame]:
        """Per entity type: score (final 0..1), forest_score, rule_score (evidence surprisal),
        hard_facts (claims beyond tolerance), rule_hits (JSON names of fired evidence)."""
        self.check_features(fs)
        return {e: self.score_entity(e, fs.table(e)) for e in self.detectors}

    def attributions(self, entity_type: str, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature attribution of the forest score (higher = pushes riskier)."""
        M = self._matrix(entity_type, X)
        if len(M) == 0:
            return pd.DataFrame(index=X.index, columns=M.columns, dtype=np.float64)
        values = self.detectors[entity_type].explain(M)
        return pd.DataFrame(values, index=X.index, columns=M.columns)


# ------------------------------------------------------------------ files
#
# A bundle file is MAGIC, one line of header JSON, one line holding the HMAC-SHA256 of
# header and payload (claimguard.model.signing), then the payload: a skops.io archive of
# the bundle's state. The header is read, its checksum and signature checked, before a
# single object of the payload is built, and skops builds only the types listed below.

MAGIC = b"CLAIMGUARD-BUNDLE\n"
_MAX_HEADER = 1 << 20  # bytes: a header is a few kB (feature lists)
_MAX_MAC = 256

# Types a payload may hold besides skops' defaults (builtins, numpy arrays and dtypes,
# scikit-learn's estimators such as IsolationForest and ExtraTreeRegressor). Pandas frames
# and the settings are not among them: they are stored as arrays and JSON
# (claimguard.model.state).
TRUSTED_TYPES: tuple[str, ...] = (
    "claimguard.model.detector.ClaimDetector",
    "claimguard.model.evidence.EvidenceSpec",
    "claimguard.model.evidence.FittedEvidence",
    "claimguard.model.feedback.FeedbackAdjustment",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.tree._tree.Tree",
)


def bundle_state(bundle: Bundle) -> dict[str, Any]:
    """The bundle as skops-safe values: settings as JSON (without the signing key), frames
    as arrays, detectors and evidence as the trusted types above."""
    state = {f.name: encode(getattr(bundle, f.name)) for f in fields(bundle)}
    state["settings"] = bundle.settings.model_dump_json()
    return state


def bundle_from_state(state: dict[str, Any]) -> Bundle:
    values = {f.name: decode(state[f.name]) for f in fields(Bundle) if f.name in state}
    values["settings"] = Settings.model_validate_json(state["settings"])
    return Bundle(**values)


def _bundle_bytes(header: dict[str, Any], payload: bytes, key: signing.SigningKey) -> bytes:
    header = {**header, "signature": {"algorithm": signing.ALGORITHM, "key_id": key.key_id}}
    head = json.dumps(header, sort_keys=True).encode()
    return MAGIC + head + b"\n" + key.sign(head, payload).encode() + b"\n" + payload


def write_bundle_file(
    path: Path, header: dict[str, Any], payload: bytes, key: signing.SigningKey
) -> None:
    """Write MAGIC, header, signature and payload atomically."""
    replace_files({Path(path): _bundle_bytes(header, payload, key)})


def save_bundle(bundle: Bundle, path: str | Path, card: dict[str, Any] | None = None) -> Path:
    """Write the signed bundle and ``NAME.model_card.json`` beside it; returns the bundle path.

    The key is ``model.signing_key`` of the bundle's settings, else the per-user key file
    (created on the first save), see claimguard.model.signing. Both files are replaced
    together at the end, so an interrupted save leaves the previous bundle and card.
    """
    import skops.io as sio

    from claimguard.model.model_card import card_path, model_card

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err = output_error(exc, path)
        if err is None:
            raise
        raise err from exc
    key = signing.signing_key(bundle.settings, create=True)
    assert key is not None  # create=True makes one
    payload = sio.dumps(bundle_state(bundle), compression=zipfile.ZIP_DEFLATED)
    header = {
        "format": FORMAT_VERSION,
        "model_version": bundle.model_version,
        "versions": bundle.versions,
        "feature_names": bundle.feature_names,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    card = card if card is not None else model_card(bundle)
    replace_files(
        {
            path: _bundle_bytes(header, payload, key),
            card_path(path): json.dumps(card, indent=2, default=str).encode(),
        }
    )
    return path


def _corrupt(where: str, why: str) -> ModelError:
    return ModelError(
        f"The model bundle cannot be read ({why})",
        where=where,
        fix="point --model at a bundle written by `claimguard train`, or retrain",
    )


def read_bundle_file(path: Path) -> tuple[dict[str, Any], bytes, str, bytes]:
    """(header, header bytes, signature, payload) of a bundle file; nothing deserialised
    but the header's JSON."""
    where = str(path)
    with path.open("rb") as fh:
        start = fh.read(len(MAGIC))
        if start != MAGIC:
            if start[:1] in (b"\x80", b"x", b"\x1f"):  # pickle, zlib (joblib), gzip
                raise ModelError(
                    "The model file is a pickle (an older claimguard bundle, or not a bundle "
                    "at all); pickles are not loaded because loading one can run any code",
                    where=where,
                    fix="retrain with `claimguard train` to write a signed bundle",
                )
            raise _corrupt(where, "not a claimguard bundle")
        head = fh.readline(_MAX_HEADER)
        mac = fh.readline(_MAX_MAC)
        payload = fh.read()
    if not head.endswith(b"\n") or not mac.endswith(b"\n"):
        raise _corrupt(where, "truncated or oversized header")
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise _corrupt(where, f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise _corrupt(where, "header is not a mapping")
    return header, head.rstrip(b"\n"), mac.rstrip(b"\n").decode("ascii", "replace"), payload


def _verify(
    header: dict[str, Any], head: bytes, mac: str, payload: bytes, where: str, settings: Settings
) -> None:
    """Checksum, then signature: raise ModelError unless the key configured here signed it."""
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise _corrupt(where, "checksum mismatch: the file is damaged or was altered")
    signature = header.get("signature")
    if not isinstance(signature, dict) or not mac:
        raise ModelError(
            "The model bundle is not signed",
            where=where,
            fix="retrain with `claimguard train` (bundles are signed when saved)",
        )
    key = signing.signing_key(settings)
    signed_by = str(signature.get("key_id"))
    if key is None:
        raise ModelError(
            f"No signing key to verify the model bundle with (it was signed with key "
            f"{signed_by}; no {signing.ENV_NAME} is set and there is no key file "
            f"{signing.key_file(settings)})",
            where=where,
            fix=f"set {signing.ENV_NAME} to the key the bundle was signed with (or copy that "
            "key file), or retrain here with `claimguard train`",
        )
    if signed_by != key.key_id:
        raise ModelError(
            f"The model bundle was signed with another key ({signed_by}; the key here, "
            f"{key.source}, is {key.key_id})",
            where=where,
            fix=f"set {signing.ENV_NAME} to the key the bundle was signed with, or retrain "
            "here with `claimguard train`",
        )
    if not key.verify(mac, head, payload):
        raise ModelError(
            "The model bundle's signature does not match: its header or content was altered",
            where=where,
            fix="use the bundle as `claimguard train` wrote it, or retrain",
        )


def load_bundle(path_or_uri: str | Path, settings: Settings | None = None) -> Bundle:
    """Load a bundle from a file or ``models:/NAME@alias`` / ``models:/NAME/VERSION``.

    ``settings`` provide the signing key (default: ``load_settings()``: configs/default.yaml
    of the working folder and CLAIMGUARD_* variables).
    """
    text = str(path_or_uri)
    if settings is None:
        from claimguard.settings import load_settings

        settings = load_settings()
    if text.startswith("models:/") or text.startswith("runs:/"):
        from claimguard.model.registry import download_bundle

        with tempfile.TemporaryDirectory(prefix="claimguard-model-") as tmp:
            return load_bundle(download_bundle(text, Path(tmp)), settings)
    path = Path(text)
    if not path.is_file():
        raise ModelError(
            "The model bundle does not exist",
            where=text,
            fix="train one with `claimguard train DATA --model-out PATH`, or give models:/NAME@alias",
        )
    header, head, mac, payload = read_bundle_file(path)
    if header.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"Bundle format {header.get('format')} is not the supported {FORMAT_VERSION}",
            where=text,
            fix="retrain with this claimguard version",
        )
    _verify(header, head, mac, payload, text, settings)
    check_versions(header.get("versions", {}), text)
    return _deserialise(payload, text)


def _deserialise(payload: bytes, where: str) -> Bundle:
    """Build the bundle from a verified payload, refusing any type not in TRUSTED_TYPES."""
    import skops.io as sio

    try:
        untrusted = set(sio.get_untrusted_types(data=payload)) - set(TRUSTED_TYPES)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged payload
        raise _corrupt(where, f"{type(exc).__name__}: {exc}") from exc
    if untrusted:
        raise _corrupt(
            where, "it holds types claimguard does not load: " + ", ".join(sorted(untrusted))
        )
    try:
        state = sio.loads(payload, trusted=list(TRUSTED_TYPES))
        bundle = bundle_from_state(state)
    except Exception as exc:  # noqa: BLE001
        raise _corrupt(where, f"{type(exc).__name__}: {exc}") from exc
    return bundle
