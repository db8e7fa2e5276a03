"""Published figures the synthetic population is checked against (plausibility tests).

Sources (Vietnam's national health-insurance fund, run by Vietnam Social
Security, VSS):

* VSS / Ministry of Health, year 2023, as reported by Saigon Giai Phong
  (en.sggp.org.vn, 2024-01-28, "Health insurance covers over 93 percent of
  country's population"): 93.3 million insured at the end of 2023; the fund
  spent more than VND 124,000 billion on examination and treatment; 12,851
  facilities treat insured patients.
* VSS annual review for 2023: about 174 million insured visits (about 127 million in
  the first nine months of 2023, about VND 90 trillion).

Derived: 174 M visits / 93.3 M insured = about 1.9 visits per insured person
per year; VND 124 T / 174 M = about VND 710,000 per visit on average. VSS
reports put inpatient stays at roughly a tenth of visits and a little over half
of spending, i.e. about VND 4 million per stay and about VND 350,000 per
outpatient visit. The ranges below are deliberately wide around these derived
values (the split between inpatient and outpatient is approximate, and prices
have changed year to year); a generator outside them is implausible.
"""

from __future__ import annotations

VISITS_PER_INSURED_YEAR = (1.5, 3.0)  # derived 1.9
INPATIENT_SHARE = (0.05, 0.12)  # share of claims that are inpatient stays
MEAN_OUTPATIENT_VND = (200_000.0, 600_000.0)  # derived ~350k
MEAN_INPATIENT_VND = (2_500_000.0, 8_000_000.0)  # derived ~4M
MEAN_VISIT_VND = (350_000.0, 1_000_000.0)  # derived ~710k, all visit types
