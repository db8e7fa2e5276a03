"""A SparkSession built from the ``spark`` settings.

Why: one place decides how claimguard talks to Spark, so the command, the tests and a
notebook get the same session: quiet logs, no web UI, session time zone UTC (naive
wall-clock times pass through unchanged), the shuffle partitions from the settings, and
workers running this very Python (the one with claimguard installed).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from typing import TYPE_CHECKING

from claimguard.errors import UserError
from claimguard.settings import SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

JAVA_FIX = (
    "install Java 17 (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`) or set "
    "JAVA_HOME to a Java 17 installation"
)
PYSPARK_FIX = "install the Spark extra: `pip install 'claimguard[spark]'`"


def java_available() -> bool:
    """True when a Java runtime can be found (JAVA_HOME or ``java`` on PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """Every Spark setting the session is built with; ``settings.conf`` wins."""
    conf = {
        "spark.app.name": settings.app_name,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # a partition's claims arrive as one Arrow stream; keep batches moderate
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
    }
    conf.update(settings.conf)
    return conf


def get_session(settings: SparkSettings) -> SparkSession:
    """The SparkSession for ``settings`` (an existing active session is reused).

    Raises UserError when pyspark or Java is missing: the command then says how to fix it.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(
            "pyspark is not installed", where="engine: spark", fix=PYSPARK_FIX
        ) from None
    if not java_available():
        raise UserError(
            "Java is not installed (Spark needs it)", where="engine: spark", fix=JAVA_FIX
        )
    # pyspark 3.5/4.0 warns on every pandas UDF under pandas 3; the parity tests cover it
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    if settings.master.startswith("local"):
        # local workers must run this interpreter, not whatever `python3` is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.master)
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: a Py4J/runtime error with a long log
        raise UserError(
            f"the Spark session could not be started ({type(exc).__name__}: {str(exc)[:300]})",
            where=f"spark.master = {settings.master}",
            fix="check the master URL and the spark.conf settings; " + JAVA_FIX,
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    log.info("Spark %s session on %s", spark.version, settings.master)
    return spark


__all__ = ["JAVA_FIX", "get_session", "java_available", "session_conf"]
