"""One local[2] Spark session and one small generated month for every Spark test.

Why shared: starting the JVM costs ~20 s and each validation of the month a few Spark
jobs; CI runs these tests in its 15-minute budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PARTITIONS = 3  # more buckets than cores: merging across partitions is exercised


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """The local[2] session of the test run (stopped at the end)."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")
    from claimguard.settings import SparkSettings
    from claimguard.spark.session import get_session, java_available

    if not java_available():
        pytest.skip(
            "Java not found: install Java 17 (apt-get install openjdk-17-jre-headless) "
            "or set JAVA_HOME"
        )
    session = get_session(
        SparkSettings(master="local[2]", shuffle_partitions=PARTITIONS, app_name="claimguard-test")
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic month (2,500 claims, seed 3) as a dataset folder."""
    from claimguard.synth.generate import generate, write_synthetic

    out = tmp_path_factory.mktemp("spark_small")
    write_synthetic(generate(2_500, seed=3, start="2024-03-01", months=1), out)
    return out


@pytest.fixture(scope="session")
def spark_ds(spark: Any, small_dir: Path) -> Any:
    """``small_dir`` read and validated on Spark once (tables are persisted)."""
    from claimguard.spark.data import load_dataset_spark

    return load_dataset_spark(spark, str(small_dir), partitions=PARTITIONS)
