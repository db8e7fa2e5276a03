"""Synthetic claims with labelled abuse.

Entry points: :func:`claimguard.synth.generate.generate` (tables in memory) and
:func:`claimguard.synth.generate.write_synthetic` (a dataset folder); the CLI is
``claimguard generate``. Modules, in the order the data is built:

* ``catalog``   provinces, ICD-10 conditions, drugs, services, supplies, prices;
* ``calendar``  days, weekday and holiday rhythm;
* ``population`` facilities (by tier, with beds) and cards (the insured registry);
* ``care``      legitimate care: chronic refills, dialysis, chemotherapy, pregnancy,
  acute episodes with follow-ups, referrals and transfers;
* ``abuse``     the planted scenarios (strong and subtle variants);
* ``variants``  ``Population``, the knobs of the normal population and of abuse strength,
  and ``variant(i)``, the populations of the robustness bench;
* ``knobs``     what each knob does to the generated care;
* ``lines``     drug/service/supply lines and claim totals;
* ``frames``    integer codes to canonical string/datetime columns;
* ``reference`` the published figures the plausibility tests check.
"""
