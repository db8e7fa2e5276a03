"""Apache Spark engine: the pandas feature functions run per card/facility partition.

Why: a national fund's year of claims does not fit one machine; the feature functions
are pure over frames, so Spark only has to put every card's (or facility's) claims in
one partition and call them there (docs/scaling.md). Importing this package needs
``pyspark`` (the ``spark`` extra) and Java 17.
"""
