"""Knobs for the normal population and for abuse strength: ``Population`` and ``variant``.

A detector tuned to one generator learns that generator's habits (nobody travels,
nobody sees a doctor twice a day, every clinic is quiet). :class:`Population` turns
those habits into knobs so a robustness bench can draw many differently-behaved
normal populations, and plant abuse more bluntly or more softly:

* the default ``Population()`` reproduces the generator exactly (same seed, same
  tables, byte for byte): every knob at its default skips its code path and draws
  nothing from the random stream;
* :func:`variant` gives variant 0 = defaults and variants 1.. drawn deterministically
  (``numpy.random.default_rng(1000 + i)``) across the knobs' ranges.

Knob effects that add legitimate look-alikes of abuse also record the cards or
facilities concerned as traps (``traveller``, ``rare_diagnosis``, ``same_day_revisit``,
``admission_day_visit``, ``busy_clinic``), so a bench sees whether they crowd the top
of the ranking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from claimguard import schema

# Optional columns a dataset from elsewhere may lack. Plain names are claims columns;
# other tables are named "table.column". Not listed (never dropped): what a planted
# scenario needs to be seen (discharge_time, doctor_id, sick_leave_days, the card
# registry's dates/sex/birth date, claim_lines days_supply).
DROPPABLE_COLUMNS: tuple[str, ...] = (
    "secondary_dx",
    "insurance_paid",
    "drug_cost",
    "supply_cost",
    "patient_birth_date",
    "patient_sex",
    "registered_facility_id",
    "card_valid_from",
    "card_valid_to",
    "department_id",
    "referral_from",
    "outcome",
    "claim_lines.order_time",
    "claim_lines.doctor_id",
    "facilities.beds",
)


def split_column(name: str) -> tuple[str, str]:
    """``"table.column"`` -> (table, column); a plain name is a claims column."""
    table, _, column = name.rpartition(".")
    return (table or "claims", column)


@dataclass(frozen=True)
class Population:
    """How the normal population behaves and how blunt planted abuse is.

    Defaults reproduce the generator's output exactly.
    """

    visits_scale: float = 1.0
    """Multiplies visits per insured person (range 0.5-2.0). The claim count stays
    exact, so the insured population shrinks or grows and acute care per card rises
    or falls (chronic refills stay monthly)."""

    same_day_revisit_share: float = 0.0
    """Share of normal acute outpatient visits that get a genuine second claim at the
    same facility on the same day for the same diagnosis, an hour or more later (the
    follow-up after a test result: exam and drugs, few tests). Range 0-0.2."""

    admission_day_visit_share: float = 0.0
    """Share of normal hospital stays with a legitimate outpatient visit at another
    facility on the admission day (before admission) or the discharge day (after
    discharge), never strictly inside the stay. Range 0-0.5."""

    travel_share: float = 0.0
    """Share of cards (migrant workers, students) that make most of their acute
    visits (80%) away from the registered facility, in another province where they
    work or study (today about 3% of visits are far from home). Range 0-0.5."""

    rare_dx_share: float = 0.0
    """Share of cards with normal acute visits whose one visit carries a rare but
    clinically possible diagnosis, statistically atypical for their sex and age
    (breast cancer in a man, gout in a young woman, osteoporosis at 30,
    hypertension at 14, ...), moved to a hospital other than the registered
    facility. Never a clinically impossible one. Range 0-0.1."""

    busy_clinic_share: float = 0.0
    """Share of facilities (district hospitals, commune stations, private clinics)
    that are legitimately very busy: three to five times the patients, more visits per
    registered card, and doctors seeing up to 55-64 patients a day (never over the
    65 cap). Range 0-0.3."""

    noise_share: float = 0.0
    """Data-entry noise in optional claim fields, each independently on this share of
    claims: the claim's own patient_sex or patient_birth_date copied wrong (the cards
    registry stays right), registered_facility_id blank, secondary_dx blank.
    Range 0-0.2."""

    absent_columns: tuple[str, ...] = ()
    """Optional columns dropped from the output (names from ``DROPPABLE_COLUMNS``:
    plain names are claims columns, others ``table.column``)."""

    abuse_strength: float = 1.0
    """Multiplier on how blunt planted abuse is (range 0.5-1.5; 1.0 = today): counts
    of extra claims, cost and intensity multipliers, admission shares, overload above
    the cap, the share of mismatching or far-away borrowed-card visits."""

    borrowed_all_mismatch: bool = False
    """When True the strong borrowed-card variant puts a diagnosis impossible for the
    holder's sex (pregnancy or childbirth on a man, prostate disease on a woman) on
    every visit it adds, all away from home, instead of the first visit and about 70%
    of the rest."""

    def __post_init__(self) -> None:
        ranges = {
            "visits_scale": (0.5, 2.0),
            "same_day_revisit_share": (0.0, 0.2),
            "admission_day_visit_share": (0.0, 0.5),
            "travel_share": (0.0, 0.5),
            "rare_dx_share": (0.0, 0.1),
            "busy_clinic_share": (0.0, 0.3),
            "noise_share": (0.0, 0.2),
            "abuse_strength": (0.5, 1.5),
        }
        for name, (lo, hi) in ranges.items():
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ValueError(f"Population.{name} = {v} is outside {lo}..{hi}")
        bad = [c for c in self.absent_columns if c not in DROPPABLE_COLUMNS]
        if bad:
            raise ValueError(
                f"Population.absent_columns {bad} cannot be dropped; "
                f"choose from {', '.join(DROPPABLE_COLUMNS)}"
            )
        for c in self.absent_columns:
            table, column = split_column(c)
            assert column in schema.TABLES[table].names, c

    def is_default(self) -> bool:
        """True when every knob is at its default (the generator's own output)."""
        return self == Population()

    def describe(self) -> dict[str, Any]:
        """Knob values as a flat dict (absent columns joined by ',')."""
        out = asdict(self)
        out["absent_columns"] = ",".join(self.absent_columns)
        return out


def variant(i: int) -> Population:
    """Variant 0 is the default population; variant i >= 1 is drawn from ``default_rng(1000 + i)``.

    Ranges: visits_scale 0.7-1.6, same_day_revisit_share 0-0.06,
    admission_day_visit_share 0-0.3, travel_share 0-0.25, rare_dx_share 0-0.02,
    busy_clinic_share 0-0.15, noise_share 0-0.05, each droppable column absent with
    probability 0.3, abuse_strength 0.6-1.3, borrowed_all_mismatch with probability 0.5.
    """
    if i < 0:
        raise ValueError(f"variant {i}: variants are numbered from 0")
    if i == 0:
        return Population()
    rng = np.random.default_rng(1000 + i)
    u = rng.random(9)
    drop = rng.random(len(DROPPABLE_COLUMNS)) < 0.3
    return Population(
        visits_scale=round(0.7 + 0.9 * u[0], 3),
        same_day_revisit_share=round(0.06 * u[1], 4),
        admission_day_visit_share=round(0.3 * u[2], 3),
        travel_share=round(0.25 * u[3], 3),
        rare_dx_share=round(0.02 * u[4], 4),
        busy_clinic_share=round(0.15 * u[5], 3),
        noise_share=round(0.05 * u[6], 4),
        absent_columns=tuple(c for c, d in zip(DROPPABLE_COLUMNS, drop, strict=True) if d),
        abuse_strength=round(0.6 + 0.7 * u[7], 3),
        borrowed_all_mismatch=bool(u[8] < 0.5),
    )


def knob_names() -> list[str]:
    """Field names of :class:`Population`, in order."""
    return [f.name for f in fields(Population)]
