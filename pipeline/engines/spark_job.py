"""Score a corpus with ``spark-submit``: the command-line entry point of ``score_with_spark``.

On a local machine (the project's venv on PATH, or ``PYSPARK_PYTHON`` pointing at it)::

    spark-submit --master local[2] pipeline/engines/spark_job.py \\
        --model models/tfidf --data data/processed/test.jsonl --out scored/

On a YARN cluster, ship a packed copy of the environment to the executors, as the PySpark guide
("Python Package Management") describes: in a fresh venv, ``pip install '.[spark]' venv-pack``
(the project installed as a package, not ``-e``: venv-pack cannot pack an editable install), then
``venv-pack -o venv.tar.gz``, and::

    spark-submit --master yarn --archives venv.tar.gz#venv \\
        --conf spark.pyspark.python=./venv/bin/python \\
        --conf spark.executorEnv.MLFLOW_TRACKING_URI=http://mlflow.internal:5000 \\
        pipeline/engines/spark_job.py \\
        --model runs:/<id>/model --data s3a://bucket/messages/ --out s3a://bucket/scored/

(``spark.pyspark.driver.python`` or ``PYSPARK_DRIVER_PYTHON`` names the driver's Python in client
mode.) Paths without a scheme are the driver's local files; on a cluster give URIs. An object store
has no atomic rename, so a remote ``--out`` is written in place: a failed job may leave a partial
folder there (without ``_SUCCESS``), while a local ``--out`` is renamed into place only when the
job has succeeded. An existing ``--out`` is refused.

Prints ``wrote <out> (<n> messages)``; on bad input or a failed job, the error on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="spark_job.py", description="Score a corpus on Spark: a Parquet folder of per-message scores."
    )
    parser.add_argument("--model", required=True, help="Model folder or MLflow model URI (runs:/..., models:/...).")
    parser.add_argument("--data", required=True, help="Corpus (.jsonl), Parquet message table, or a folder of them.")
    parser.add_argument("--out", required=True, help="New Parquet folder for the scores.")
    parser.add_argument("--buckets", type=int, default=None, help="Groups of whole conversations, one task each.")
    args = parser.parse_args(argv)
    if args.buckets is not None and args.buckets < 1:
        parser.error("--buckets: expected a positive integer")

    from pipeline.core.errors import PipelineError
    from pipeline.engines.spark import score_with_spark

    try:
        count = score_with_spark(args.model, args.data, args.out, buckets=args.buckets)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({count} messages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
