"""Logging set-up, called by the CLI only (never at import time)."""

from __future__ import annotations

import logging
import sys

from rich.logging import RichHandler


def setup_logging(verbosity: int = 0) -> None:
    """Rich logs on a terminal, plain timestamped lines for batch jobs (stderr not a tty)."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("claimguard").setLevel(level)
    for noisy in ("mlflow", "alembic", "urllib3", "matplotlib", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
