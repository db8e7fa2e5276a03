"""Where the MLflow store and the triage database live, resolved once to absolute URIs.

Why: a scheduled job starts in whatever folder cron or systemd gives it. A relative
``sqlite:///mlflow.db`` would then name a different, empty store: MLflow creates it on the
first call and a ``models:/`` URI silently fails to resolve; ``triage export`` would export
0 decisions from a fresh database. Every command therefore resolves a relative SQLite path
(or a plain MLflow folder path) against the working folder once, logs the absolute URI at
start, and commands that only *read* a store refuse one that does not exist instead of
creating it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from claimguard.errors import ConfigError

log = logging.getLogger(__name__)

_SQLITE = ("sqlite:///", "sqlite+pysqlite:///")


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL (None for other URLs or in-memory)."""
    for prefix in _SQLITE:
        if url.startswith(prefix):
            rest = url[len(prefix) :].split("?", 1)[0]
            return Path(rest) if rest and rest != ":memory:" else None
    return None


def absolute_url(url: str, base: Path | None = None) -> str:
    """``url`` with a relative SQLite file (or a bare folder path) made absolute.

    Server URLs (postgresql://, http://, databricks) are returned unchanged.
    """
    root = Path.cwd() if base is None else base
    for prefix in _SQLITE:
        if url.startswith(prefix):
            path = sqlite_path(url)
            if path is None or path.is_absolute():
                return url
            query = url[len(prefix) :].partition("?")
            tail = f"?{query[2]}" if query[1] else ""
            return f"{prefix}{(root / path).resolve()}{tail}"
    if "://" not in url and ":" not in url.split("/", 1)[0]:
        return str((root / url).resolve())  # an MLflow file store given as a folder path
    return url


def mlflow_tracking_uri(configured: str) -> str:
    """MLFLOW_TRACKING_URI if set, else ``configured`` (``mlflow.tracking_uri``); absolute."""
    return absolute_url(os.environ.get("MLFLOW_TRACKING_URI") or configured)


def require_existing(url: str, what: str, fix: str) -> None:
    """Raise ConfigError when ``url`` names a SQLite file (or folder store) that is missing."""
    path = sqlite_path(url)
    if path is None and "://" not in url:
        path = Path(url)
    if path is not None and not path.exists():
        raise ConfigError(
            f"The {what} does not exist (it would be created empty)",
            where=url,
            fix=fix,
        )


_announced: set[str] = set()


def announce(what: str, url: str) -> None:
    """Log ``what: url`` once per process, so a job's log says which store it used."""
    key = f"{what}={url}"
    if key not in _announced:
        _announced.add(key)
        log.info("%s: %s", what, re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url))
