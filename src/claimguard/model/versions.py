"""Library versions a bundle records, and the check that a bundle fits this install.

Why: a forest saved by another scikit-learn (major.minor) may score differently; a
bundle says which versions made it and refuses to load where they differ.
"""

from __future__ import annotations

import logging
import platform

import numpy as np
import pandas as pd

from claimguard import __version__
from claimguard.errors import ModelError

log = logging.getLogger(__name__)


def library_versions() -> dict[str, str]:
    """Versions that decide whether a saved model scores the same way here."""
    import sklearn

    return {
        "claimguard": __version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _major_minor(v: str) -> str:
    return ".".join(str(v).split(".")[:2])


def check_versions(saved: dict[str, str], where: str) -> None:
    """Raise ModelError when claimguard or scikit-learn differ in major.minor version."""
    here = library_versions()
    differ = [
        f"{lib} {saved.get(lib, '?')} (bundle) vs {here[lib]} (installed)"
        for lib in ("claimguard", "scikit-learn")
        if _major_minor(saved.get(lib, "")) != _major_minor(here[lib])
    ]
    if differ:
        raise ModelError(
            "The model bundle was made by incompatible library versions: " + "; ".join(differ),
            where=where,
            fix="retrain with `claimguard train` in this environment, or install the versions "
            "the bundle was made with",
        )
    patch = [lib for lib in ("claimguard", "scikit-learn") if saved.get(lib) != here[lib]]
    if patch:
        log.warning("Bundle made with other patch versions of %s", ", ".join(patch))
