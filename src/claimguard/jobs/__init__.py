"""Jobs: the only modules that compose several layers (demo, evaluate, compare, quality).

Everything below imports only downward (io -> features -> evaluation metrics -> model ->
scoring -> triage; see docs/architecture.md); the command line in ``claimguard.commands``
is a thin shell over these jobs and the layers' own entry points.
"""
