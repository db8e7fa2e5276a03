"""SIGINT and SIGTERM, handled in one place.

Why: a scheduler stops a job with SIGTERM and an operator with Ctrl-C. Either must leave
no half-written temporary folder behind, print one line and exit with the shell's
convention (128 + signal number: 130, 143) so the scheduler can tell a stop from a failure.
Both signals raise :class:`Interrupted` in the main thread: it derives from
``BaseException`` so that the ``except BaseException`` clean-up of the atomic writers
(claimguard.scoring.output) runs, while no ``except Exception`` (and not click, which turns
``KeyboardInterrupt`` into a silent abort) swallows it. Only ``cli.run`` installs the handlers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The process received SIGINT or SIGTERM; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)


def _raise(signum: int, frame: FrameType | None) -> None:
    # a second signal during clean-up must not interrupt the clean-up itself
    for s in HANDLED:
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    for s in HANDLED:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
