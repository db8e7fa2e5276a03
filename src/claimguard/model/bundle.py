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
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from claimguard import __version__
from claimguard.errors import ModelError, output_error
from claimguard.model import signing
from claimguard.model.detector import ClaimDetector
from claimguard.model.evidence import EvidenceSettings, FittedEvidence, combine, weigh
from claimguard.settings import Settings

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: evidence-weighted scores; 3: signed skops payload, no pickle
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
# and the settings are not among them: they are stored as arrays and JSON (``_frame_state``).
TRUSTED_TYPES: tuple[str, ...] = (
    "claimguard.model.detector.ClaimDetector",
    "claimguard.model.evidence.EvidenceSpec",
    "claimguard.model.evidence.FittedEvidence",
    "claimguard.model.feedback.FeedbackAdjustment",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.tree._tree.Tree",
)


def _array_state(values: pd.Index | pd.Series) -> dict[str, Any]:
    """One column or index as numpy arrays and plain values (no pandas objects)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "kind": "category",
            "codes": pd.Categorical(values, dtype=dtype).codes,
            "categories": _array_state(dtype.categories),
            "ordered": bool(dtype.ordered),
        }
    if isinstance(dtype, pd.StringDtype):
        na = dtype.na_value
        return {
            "kind": "string",
            "storage": str(dtype.storage),
            "na_nan": isinstance(na, float) and np.isnan(na),
            "values": values.to_numpy(dtype=object),
        }
    if isinstance(dtype, np.dtype):
        return {"kind": "numpy", "values": values.to_numpy()}
    raise TypeError(f"a column of dtype {dtype} cannot be stored in a model bundle")


def _array(state: dict[str, Any]) -> Any:
    kind = state["kind"]
    if kind == "numpy":
        return np.asarray(state["values"])
    if kind == "string":
        na = np.nan if state["na_nan"] else pd.NA
        strings = pd.StringDtype(storage=state["storage"], na_value=na)
        return pd.array(np.asarray(state["values"], dtype=object), dtype=strings)
    if kind == "category":
        cats = pd.Index(_array(state["categories"]))
        categorical = pd.CategoricalDtype(cats, ordered=bool(state["ordered"]))
        return pd.Categorical.from_codes(np.asarray(state["codes"]), dtype=categorical)
    raise ValueError(f"unknown column kind {kind!r}")


def _index_state(index: pd.Index) -> dict[str, Any]:
    if isinstance(index, pd.MultiIndex):
        raise TypeError("a MultiIndex cannot be stored in a model bundle")
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": index.name}
    return {"values": _array_state(index), "name": index.name}


def _index(state: dict[str, Any]) -> pd.Index:
    if "range" in state:
        start, stop, step = state["range"]
        return pd.RangeIndex(start, stop, step, name=state["name"])
    values = _array(state["values"])
    dtype = getattr(values, "dtype", None)
    return pd.Index(values, dtype=dtype, name=state["name"])


def _frame_state(df: pd.DataFrame) -> dict[str, Any]:
    """A DataFrame as plain arrays, rebuilt exactly (dtypes, index, names) by ``_frame``."""
    return {
        "__frame__": True,
        "columns": _index_state(df.columns),
        "index": _index_state(df.index),
        "data": [_array_state(df.iloc[:, j]) for j in range(df.shape[1])],
    }


def _frame(state: dict[str, Any]) -> pd.DataFrame:
    index = _index(state["index"])
    cols = []
    for col in state["data"]:
        values = _array(col)
        cols.append(pd.Series(values, index=index, dtype=values.dtype, copy=False))
    df = pd.DataFrame(dict(enumerate(cols)), index=index)
    df.columns = _index(state["columns"])
    return df


def _encode(obj: Any) -> Any:
    """Frames (also inside dicts and the peer tables) as ``_frame_state``; the rest as is."""
    from claimguard.features.peers import PeerTables

    if isinstance(obj, pd.DataFrame):
        return _frame_state(obj)
    if isinstance(obj, PeerTables):
        return {"__peers__": {f.name: _encode(getattr(obj, f.name)) for f in fields(obj)}}
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    return obj


def _decode(obj: Any) -> Any:
    from claimguard.features.peers import PeerTables

    if isinstance(obj, dict):
        if obj.get("__frame__") is True:
            return _frame(obj)
        if set(obj) == {"__peers__"}:
            return PeerTables(**{k: _decode(v) for k, v in obj["__peers__"].items()})
        return {k: _decode(v) for k, v in obj.items()}
    return obj


def bundle_state(bundle: Bundle) -> dict[str, Any]:
    """The bundle as skops-safe values: settings as JSON (without the signing key), frames
    as arrays, detectors and evidence as the trusted types above."""
    state = {f.name: _encode(getattr(bundle, f.name)) for f in fields(bundle)}
    state["settings"] = bundle.settings.model_dump_json()
    return state


def bundle_from_state(state: dict[str, Any]) -> Bundle:
    values = {f.name: _decode(state[f.name]) for f in fields(Bundle) if f.name in state}
    values["settings"] = Settings.model_validate_json(state["settings"])
    return Bundle(**values)


def _replace_all(files: dict[Path, bytes]) -> None:
    """Write each file to a temporary sibling, fsync, then rename them all into place.

    A reader sees the old file or the whole new one, never half of it; a failure (a full
    disk, say) before the renames leaves every old file as it was. A full disk or a
    read-only location raises :class:`claimguard.errors.OutputError`.
    """
    tmps: dict[Path, Path] = {}
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, data in files.items():
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            tmps[path] = Path(name)
            os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it 0600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for path, written in tmps.items():
            os.replace(written, path)
    except BaseException as exc:
        for written in tmps.values():
            written.unlink(missing_ok=True)
        err = output_error(exc, next(iter(files))) if isinstance(exc, OSError) else None
        if err is not None:
            raise err from exc
        raise


def _bundle_bytes(header: dict[str, Any], payload: bytes, key: signing.SigningKey) -> bytes:
    header = {**header, "signature": {"algorithm": signing.ALGORITHM, "key_id": key.key_id}}
    head = json.dumps(header, sort_keys=True).encode()
    return MAGIC + head + b"\n" + key.sign(head, payload).encode() + b"\n" + payload


def write_bundle_file(
    path: Path, header: dict[str, Any], payload: bytes, key: signing.SigningKey
) -> None:
    """Write MAGIC, header, signature and payload atomically."""
    _replace_all({Path(path): _bundle_bytes(header, payload, key)})


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
    _replace_all(
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
