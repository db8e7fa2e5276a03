"""Hand freed memory back to the operating system between large steps.

Why: Arrow's allocator and glibc's malloc keep freed blocks for reuse. Between the
tables of a 10M-claim month (or its feature partitions) that is gigabytes of resident
memory nobody uses, and it counts against the batch job's memory budget.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

import pyarrow as pa


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def release_memory() -> None:
    """Return Arrow's and malloc's freed blocks to the OS (``malloc_trim`` is glibc only;
    elsewhere only Arrow's pool is released)."""
    pa.default_memory_pool().release_unused()
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
