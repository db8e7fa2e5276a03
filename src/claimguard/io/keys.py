"""Key checks over Arrow-backed columns: duplicate keys, keys known to a parent table.

Why apart from the row checks: they are the costly part of validating a 10M-row table
(every key hashed or compared), so each has a fast path for the common export shapes
(keys in order, keys of one length, lines grouped by claim) and an exact fallback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def chunked_of(s: pd.Series) -> pa.ChunkedArray:
    """A Series as an Arrow ChunkedArray without copying (Arrow-backed columns)."""
    a = pa.array(s.array)
    return a if isinstance(a, pa.ChunkedArray) else pa.chunked_array([a])


def _next_differs(a: pa.ChunkedArray) -> np.ndarray:
    """Bool per row i > 0: row i's value differs from row i-1's (nulls count as different)."""
    n = len(a)
    out = np.ones(n, dtype=bool)
    if n > 1:
        ne = pc.fill_null(pc.not_equal(a.slice(0, n - 1), a.slice(1)), True)
        out[1:] = ne.to_numpy(zero_copy_only=False)
    return out


def known_keys(ids: pd.Series, parent: pd.Series) -> np.ndarray:
    """True where ``ids`` is one of ``parent``'s values (null -> False).

    Lines come grouped by claim, so only the first row of each run of equal ids is
    looked up (a third of the rows or fewer); when those run heads are exactly the
    parent keys in the same order (every claim has lines, same export order), no
    hashing is needed at all.
    """
    a = chunked_of(ids)
    n = len(a)
    if n == 0:
        return np.zeros(0, dtype=bool)
    heads = np.flatnonzero(_next_differs(a))
    u = a.take(pa.array(heads)) if len(heads) < n else a
    p = chunked_of(parent)
    if p.type != u.type:
        p = p.cast(u.type)
    if len(u) == len(p) and pc.all(pc.fill_null(pc.equal(u, p), False)).as_py():
        return np.ones(n, dtype=bool)
    value_set = p.combine_chunks()
    known_u = pc.fill_null(pc.is_in(u, value_set=value_set), False).to_numpy(zero_copy_only=False)
    return np.repeat(known_u, np.diff(np.append(heads, n)))


def first_copy_mask(keys: pd.Series, eligible: np.ndarray) -> np.ndarray:
    """True on rows whose key already appeared on an earlier eligible row."""
    chunked = chunked_of(keys)
    if len(chunked) == 0:
        return np.zeros(0, dtype=bool)
    if chunked.null_count == 0 and len(chunked) > 1:
        # exports ordered by id (most are): strictly increasing means no duplicates
        n = len(chunked)
        if pc.all(pc.less(chunked.slice(0, n - 1), chunked.slice(1))).as_py():
            return np.zeros(n, dtype=bool)
    if _proven_unique(chunked):
        return np.zeros(len(chunked), dtype=bool)
    arr = chunked.combine_chunks()
    enc = pc.dictionary_encode(arr)
    if len(enc.dictionary) == len(arr):
        return np.zeros(len(arr), dtype=bool)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    codes = np.where(eligible, codes, -1)
    dup = pd.Series(codes).duplicated(keep="first").to_numpy()
    return np.asarray(dup & eligible & (codes >= 0))


def _proven_unique(keys: pa.ChunkedArray) -> bool:
    """True when keys of one length are all distinct; False means "not known".

    Why: card numbers (15 characters) and most exported ids have one length, and their
    bytes then sit in Arrow's data buffer as an n x L block. A 64-bit hash of each row's
    8-byte words, sorted, proves the keys distinct when no two hashes are equal (equal
    keys always have equal hashes), several times faster than hashing the strings
    (dictionary encoding). Equal hashes, a duplicate or a collision, send the caller to
    the exact path. Chunk by chunk: joining the chunks first would copy every key.
    """
    if keys.null_count or not (
        pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)
    ):
        return False
    parts = []
    width = None
    for chunk in keys.chunks:
        if len(chunk) == 0:
            continue
        n = len(chunk)
        off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=off_type)[chunk.offset :][: n + 1]
        width = int(offsets[1] - offsets[0]) if width is None else width
        if width == 0 or width > 64 or not (np.diff(offsets) == width).all():
            return False
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        parts.append(_row_hashes(data.reshape(n, width)))
    if not parts:
        return True
    h = np.concatenate(parts)
    h.sort()
    return not bool((h[1:] == h[:-1]).any())


def _row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of an n x L byte block (FNV-style mix of its 8-byte words;
    uint64 arithmetic wraps)."""
    n, width = rows.shape
    block = np.zeros((n, -(-width // 8) * 8), dtype=np.uint8)
    block[:, :width] = rows
    h = np.zeros(n, dtype=np.uint64)
    for word in block.view(np.uint64).T:
        h = (h ^ word) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
    return h
