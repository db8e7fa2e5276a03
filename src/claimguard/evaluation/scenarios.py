"""Which signals a reviewer should see for each abuse scenario.

Why: an explanation is only useful if it points at the abuse that is really there.
The evaluation checks that, among true alerts, a scenario's expected signal is among
the top reasons. Scenario names come from generators and reviewers we do not
control, so names are normalised and matched by keyword as well as exactly.
"""

from __future__ import annotations

import re

from claimguard.schema import CARD_SCENARIOS, FACILITY_SCENARIOS, SIGNALS

# scenario -> (primary signal, *other signals that also show it)
EXPECTED_SIGNALS: dict[str, tuple[str, ...]] = {
    "borrowed_card": ("demographic_mismatch", "geography", "multi_facility"),
    "medicine_hoarding": ("drug_oversupply", "visit_frequency", "multi_facility"),
    "overlapping_care": ("overlapping_care",),
    "post_death": ("eligibility",),
    "ineligible": ("eligibility",),
    "split_billing": ("split_billing",),
    "overbilling": ("service_intensity", "cost"),
    "admission_inflation": ("admission_pattern",),
    "sick_leave_mill": ("sick_leave",),
    "phantom_visits": ("doctor_load", "visit_frequency", "sick_leave"),
    "doctor_overload": ("doctor_load",),
}

SCENARIO_ENTITY: dict[str, str] = {
    **dict.fromkeys(CARD_SCENARIOS, "card"),
    **dict.fromkeys(FACILITY_SCENARIOS, "facility"),
}

# Keyword -> scenario, tried in order when a name is not an exact match.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("borrow", "borrowed_card"),
    ("identity", "borrowed_card"),
    ("hoard", "medicine_hoarding"),
    ("refill", "medicine_hoarding"),
    ("medicine", "medicine_hoarding"),
    ("drug", "medicine_hoarding"),
    ("overlap", "overlapping_care"),
    ("death", "post_death"),
    ("dead", "post_death"),
    ("deceas", "post_death"),
    ("inelig", "ineligible"),
    ("expired", "ineligible"),
    ("validity", "ineligible"),
    ("split", "split_billing"),
    ("unbundl", "split_billing"),
    ("overbill", "overbilling"),
    ("upcod", "overbilling"),
    ("intensity", "overbilling"),
    ("admission", "admission_inflation"),
    ("admit", "admission_inflation"),
    ("sick", "sick_leave_mill"),
    ("phantom", "phantom_visits"),
    ("ghost", "phantom_visits"),
    ("overload", "doctor_overload"),
    ("doctor", "doctor_overload"),
)


def normalise(scenario: object) -> str:
    """Lower-case, non-alphanumerics to single underscores (``"Borrowed card"`` -> ``borrowed_card``)."""
    if scenario is None:
        return ""
    text = str(scenario).strip().lower()
    if text in ("nan", "<na>", "none"):
        return ""
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


def canonical_scenario(scenario: object) -> str | None:
    """The known scenario a free-text name stands for, or None when nothing matches."""
    name = normalise(scenario)
    if not name:
        return None
    if name in EXPECTED_SIGNALS:
        return name
    compact = name.replace("_", "")
    for key in EXPECTED_SIGNALS:
        if key.replace("_", "") == compact:
            return key
    for keyword, key in _KEYWORDS:
        if keyword in compact:
            return key
    return None


def expected_signals(scenario: object) -> tuple[str, ...]:
    """Signals that explain a scenario, primary first; a signal name itself maps to itself."""
    key = canonical_scenario(scenario)
    if key is not None:
        return EXPECTED_SIGNALS[key]
    name = normalise(scenario)
    if name in SIGNALS:
        return (name,)
    return ()
