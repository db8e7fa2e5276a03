"""Model identity: ``model_version`` is a hash of everything that changes the scores.

Why: alert ids, triage decisions and run.json name a model by its version. Two bundles that
score differently must never share one (a retraining with reviewer feedback changed 51 of
220 alerts yet kept the id of the model without it), and retraining the same data with the
same settings must give the same id (stable alert ids across re-runs). So the version is
computed from the fitted content itself — the forests' trees, the training peers, the
evidence items and their weights, the feedback re-weighting, the feature lists and
training statistics, and the settings that enter scoring (``model`` and ``features``) —
not from where the data came from. Kept out of the bundle's file format on purpose: the
hash walks the objects, whatever way they are stored.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from claimguard.model.bundle import Bundle

PREFIX = "cg-"
_MAX_DEPTH = 40


def _update(h: Any, obj: Any, depth: int = 0) -> None:
    """Feed a canonical byte form of ``obj`` into ``h`` (order-independent for mappings)."""
    if depth > _MAX_DEPTH:
        raise ValueError("model content nests too deeply to hash")
    h.update(type(obj).__name__.encode())
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        h.update(repr(obj).encode())
    elif isinstance(obj, np.ndarray):
        h.update(repr((obj.dtype.str, obj.shape)).encode())
        if obj.dtype.hasobject:
            for item in obj.ravel().tolist():
                _update(h, item, depth + 1)
        elif obj.dtype.names is not None:
            # a structured array (scikit-learn's tree nodes): field by field, because the
            # padding bytes between fields are uninitialised memory and differ between copies
            for name in obj.dtype.names:
                _update(h, np.ascontiguousarray(obj[name]), depth + 1)
        else:
            h.update(np.ascontiguousarray(obj).tobytes())
    elif sparse.issparse(obj):  # its contents, not cached flags such as sorted indices
        csr = sparse.csr_matrix(obj)
        _update(h, [obj.format, list(csr.shape), csr.data, csr.indices, csr.indptr], depth + 1)
    elif isinstance(obj, np.generic):
        h.update(repr(obj.item()).encode())
    elif isinstance(obj, pd.DataFrame):
        _update(h, [str(c) for c in obj.columns], depth + 1)
        _update(h, obj.index.astype(str).to_numpy(), depth + 1)
        for col in obj.columns:
            _update(h, obj[col].to_numpy(), depth + 1)
    elif isinstance(obj, pd.Series | pd.Index):
        _update(h, obj.astype(str).to_numpy() if obj.dtype == object else obj.to_numpy(), depth)
    elif isinstance(obj, dict):
        for key in sorted(obj, key=repr):
            _update(h, repr(key), depth + 1)
            _update(h, obj[key], depth + 1)
    elif isinstance(obj, list | tuple):
        h.update(str(len(obj)).encode())
        for item in obj:
            _update(h, item, depth + 1)
    elif isinstance(obj, set | frozenset):
        _update(h, sorted(obj, key=repr), depth + 1)
    elif hasattr(obj, "model_dump"):  # pydantic settings
        h.update(json.dumps(obj.model_dump(mode="json"), sort_keys=True).encode())
    elif hasattr(obj, "__getstate__") and not hasattr(obj, "__dict__"):
        _update(h, obj.__getstate__(), depth + 1)  # e.g. scikit-learn's Cython Tree
    elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        state = obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj)
        if isinstance(state, tuple):  # (dict, slots) from copyreg
            state = list(state)
        _update(h, state, depth + 1)
    elif callable(obj):
        h.update(f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}".encode())
    else:
        h.update(repr(obj).encode())


def content_version(bundle: Bundle) -> str:
    """``cg-`` + 12 hex digits of the SHA-256 of what decides a bundle's scores."""
    h = hashlib.sha256()
    settings = bundle.settings
    _update(
        h,
        {
            "claimguard": bundle.versions.get("claimguard"),
            "settings": {
                "model": settings.model.model_dump(mode="json"),
                "features": settings.features.model_dump(mode="json"),
            },
            "feature_names": bundle.feature_names,
            "feature_stats": bundle.feature_stats,
            "detectors": bundle.detectors,
            "peers": bundle.peers,
            "evidence": bundle.evidence,
            "feedback": bundle.feedback,
        },
    )
    return PREFIX + h.hexdigest()[:12]
