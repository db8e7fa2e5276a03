"""Progress display for steps that may take more than a couple of seconds.

A rich spinner with elapsed time on a terminal; on a batch job (stderr not a tty)
a log line at start and end with the duration. Library code uses :func:`step`
and never needs to know which one is active.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

log = logging.getLogger("claimguard")


@contextmanager
def step(description: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Show ``description`` while the block runs; store its seconds in ``timings`` if given."""
    t0 = time.perf_counter()
    interactive = sys.stderr.isatty() and log.isEnabledFor(logging.INFO)
    if interactive:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
        ) as progress:
            progress.add_task(description, total=None)
            yield
    else:
        log.debug("%s ...", description)
        yield
    seconds = time.perf_counter() - t0
    if timings is not None:
        timings[description] = round(seconds, 3)
    log.info("%s: done in %.1f s", description, seconds)
