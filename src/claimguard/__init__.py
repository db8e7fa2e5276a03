"""claimguard: find abuse in health-insurance claims.

Claims → validated canonical tables → per-card and per-facility features →
isolation-forest scores → ranked alerts with reasons → reviewer triage.
"""

__version__ = "0.1.0"
