"""Data in: readers for dataset folders, single files and XML 130, mapping, writers.

Public entry points: :func:`load_dataset` and :func:`write_dataset`.
"""

from claimguard.io.load import load_dataset
from claimguard.io.write import write_dataset, write_quarantine

__all__ = ["load_dataset", "write_dataset", "write_quarantine"]
