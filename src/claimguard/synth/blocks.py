"""Claims under construction: one struct of NumPy arrays per batch of visits.

Every generator (normal care, each planted scenario) returns a :class:`Block`;
blocks are concatenated, then turned into lines and finally into the canonical
string/datetime columns once. Keeping integer codes until the end is what makes
ten million claims cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from claimguard.schema import SCENARIOS

OUT, INP, DAY = 0, 1, 2  # visit types: outpatient, inpatient, day_care
SC = {name: i for i, name in enumerate(SCENARIOS)}


@dataclass
class Block:
    """Visits as parallel arrays; -1 means "none" for optional integer codes."""

    card: np.ndarray  # int32 card index
    fac: np.ndarray  # int32 facility index
    day: np.ndarray  # int32 admit day (from period start)
    minute: np.ndarray  # int16 admit minute of day
    los: np.ndarray  # int16 nights (0 = same day)
    dur: np.ndarray  # int16 minutes for same-day visits
    vtype: np.ndarray  # int8 OUT/INP/DAY
    dx: np.ndarray  # int16 primary diagnosis
    dx2: np.ndarray  # int16 secondary diagnosis or -1
    dx3: np.ndarray  # int16 second secondary or -1
    doctor: np.ndarray  # int32 global doctor index, -1 = assign later
    sick: np.ndarray  # int16 sick-leave days
    refill: np.ndarray  # int16 days_supply of chronic drug lines, 0 = acute course
    tmult: np.ndarray  # float32 tests/imaging intensity
    dmult: np.ndarray  # float32 drug lines intensity
    smult: np.ndarray  # float32 supply intensity
    thin: np.ndarray  # bool: exam and at most one cheap drug
    ref_from: np.ndarray  # int32 referring facility or -1
    died: np.ndarray  # bool: outcome died
    scen: np.ndarray  # int8 planted scenario or -1
    ent: np.ndarray  # int32 planted entity (card or facility index) or -1

    def __len__(self) -> int:
        return len(self.card)

    def take(self, idx: np.ndarray) -> Block:
        return Block(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


_DEFAULTS: dict[str, tuple[type, float | int | bool]] = {
    "card": (np.int32, -1),
    "fac": (np.int32, -1),
    "day": (np.int32, 0),
    "minute": (np.int16, 480),
    "los": (np.int16, 0),
    "dur": (np.int16, 30),
    "vtype": (np.int8, OUT),
    "dx": (np.int16, 0),
    "dx2": (np.int16, -1),
    "dx3": (np.int16, -1),
    "doctor": (np.int32, -1),
    "sick": (np.int16, 0),
    "refill": (np.int16, 0),
    "tmult": (np.float32, 1.0),
    "dmult": (np.float32, 1.0),
    "smult": (np.float32, 1.0),
    "thin": (np.bool_, False),
    "ref_from": (np.int32, -1),
    "died": (np.bool_, False),
    "scen": (np.int8, -1),
    "ent": (np.int32, -1),
}


def block(n: int, **cols: object) -> Block:
    """A block of ``n`` visits; unspecified columns take their defaults."""
    out: dict[str, np.ndarray] = {}
    for name, (dtype, default) in _DEFAULTS.items():
        v = cols.pop(name, default)
        arr: np.ndarray = np.asarray(v, dtype=dtype)
        out[name] = np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 else arr
        if len(out[name]) != n:
            raise ValueError(f"column {name} has {len(out[name])} values, expected {n}")
    if cols:
        raise TypeError(f"unknown block columns {sorted(cols)}")
    return Block(**out)


def concat(blocks: list[Block]) -> Block:
    """One block from many (in order)."""
    return Block(
        **{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(Block)}
    )


def outpatient_minutes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Admit minute for outpatient visits: morning peak 7:00-11:00, afternoon 13:30-16:30."""
    morning = rng.random(n) < 0.72
    m = np.where(morning, 420 + rng.gamma(2.0, 45.0, n), 810 + rng.random(n) * 180)
    return np.clip(m, 420, 1020).astype(np.int16)


def any_minutes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Admit minute for admissions: any hour, more in the day."""
    m = np.where(rng.random(n) < 0.75, 420 + rng.random(n) * 660, rng.random(n) * 1440)
    return m.astype(np.int16)
