"""Score a corpus on Apache Spark: the serving contract (``pipeline.tracking.serving``) computed by
Spark's Python workers, one Parquet row per message.

Input (``data``): a corpus in the project's JSON Lines format (a ``*.jsonl`` file: read line by line
on the workers and validated as ``pipeline.data.corpus`` validates a file, so the driver never holds
the corpus), or a Parquet message table, a file or a folder of files, with the columns of the
serving contract (``conversation_id``, ``text``; optional ``message_index``, ``author``,
``language``). Output (``out``): a Parquet folder with ``conversation_id``, ``message_index``,
``p_<label>`` for every label of the schema (schema order), ``risk`` and ``alert``: the values that
``serving.predict_table`` gives on the whole table in one process.

A conversation's messages are scored together and in order (the running risk needs the earlier
ones): rows are partitioned by a hash of ``conversation_id`` into buckets, each bucket is one task
and one ``predict_table`` call, so the per-call cost is paid once per bucket. Each Python worker
loads the model once, from its folder or MLflow URI (never pickled from the driver), and keeps it
for the tasks it runs next (Spark reuses its Python workers).

Paths without a scheme are local files (``file:``), also on a cluster; give other file systems as
URIs (``hdfs://``, ``s3a://``). A local ``out`` is written atomically: Spark writes a hidden
sibling folder, renamed to ``out`` once the job has succeeded; a failure leaves neither. Elsewhere
(object stores have no atomic rename) ``out`` is written in place, and a failed job may leave a
partial folder, without Spark's ``_SUCCESS`` marker. An existing ``out`` is always refused.

A model folder given as a path must be readable at that path on every executor (a shared file
system); an MLflow URI needs ``MLFLOW_TRACKING_URI`` on the executors
(``spark.executorEnv.MLFLOW_TRACKING_URI``). ``pipeline.engines.spark_job`` is the
``spark-submit`` entry point.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pipeline.core.errors import MAX_REPORTED, DataError, PipelineError, Problem

# At most this many messages in one bucket: a worker holds a bucket's whole frame, the model's
# features for it and the scores at once. 50k short chat messages are tens of MB.
MESSAGES_PER_BUCKET = 50_000

# A PipelineError raised on a worker crosses the JVM as text; this prefix (before the message as a
# JSON string, on one line) lets the driver find it in Spark's error and raise it again as it was.
_WORKER_ERROR = "grooming-risk-worker-error:"

# The models this Python worker process has loaded, by (reference, label ids): filled on first use.
_MODELS: dict[tuple[str, tuple[str, ...]], Any] = {}

# One row per message of a JSONL corpus, or one problem of a line (field and problem set, the rest null).
_PARSED_SCHEMA = (
    "line long, conversation_id string, message_index long, author string, text string, language string, "
    "field string, problem string"
)
_URI_MODEL_PREFIXES = ("runs:/", "models:/", "mlflow-artifacts:/")
_EXISTS = (
    "already exists; nothing was written (the Spark engine writes a new folder and never replaces one: "
    "choose another path)"
)


def score_with_spark(
    model_ref: str,
    data: str | Path,
    out: str | Path,
    *,
    spark=None,
    master: str | None = None,
    buckets: int | None = None,
) -> int:
    """Score every message of ``data`` with the model ``model_ref`` (a model folder or an MLflow
    model URI) on Spark and write the scores to the new Parquet folder ``out``; return the number
    of messages scored.

    ``spark``: a session to use (left running); by default ``SparkSession.builder.getOrCreate()``,
    so that ``spark-submit``'s master and settings apply, stopped at the end if this call started
    it. ``master`` (e.g. ``local[2]``) is set only when given, and only on a session this call
    starts (whose local workers then run this Python when it is a virtual environment's).
    ``buckets``: how many groups of whole conversations are scored, one task each (default:
    ``default_buckets``).

    Bad input (a missing column, a malformed line, an empty corpus) and a failure on a worker are
    a ``PipelineError`` (``DataError`` where it names lines), never a Spark traceback; nothing is
    left at ``out`` then.
    """
    from pipeline.schema import load_schema

    if buckets is not None and buckets < 1:
        raise PipelineError(f"--buckets {buckets}: expected a positive number of buckets")
    schema = load_schema()
    source, target = _location(data), _location(out)
    _check_paths(model_ref, source, target)
    session, created = _session(spark, master)
    try:
        if source.is_jsonl:
            messages, count, cached = _read_corpus(session, source, schema.label_ids, schema.flag_ids)
        else:
            messages, count, cached = _read_table(session, source)
        try:
            n = buckets or default_buckets(count, session.sparkContext.defaultParallelism)
            _write(_score(messages, model_ref, schema.label_ids, n, source.shown), target)
        finally:
            if cached is not None:
                cached.unpersist()
        return count
    finally:
        if created:
            session.stop()


def default_buckets(messages: int, parallelism: int) -> int:
    """Two buckets a core, so that every core has work and one large bucket does not leave the
    others idle at the end (hash buckets differ in size); more when a bucket would hold more than
    ``MESSAGES_PER_BUCKET`` messages. Fewer, larger buckets pay the per-call cost (Arrow batches,
    a pandas frame, the model's vectorisers) less often."""
    return max(2 * max(parallelism, 1), math.ceil(messages / MESSAGES_PER_BUCKET))


def output_schema(label_ids: Iterable[str]) -> str:
    """The Spark schema (DDL) of the serving contract's output, labels in schema order."""
    columns = ["conversation_id string", "message_index long"]
    columns += [f"`p_{label}` double" for label in label_ids]
    return ", ".join([*columns, "risk double", "alert boolean"])


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class _Location:
    """A path as Spark reads it (``uri``), as the user wrote it (``shown``), and its local file
    (``local``; None on another file system)."""

    uri: str
    shown: str
    local: Path | None

    @property
    def is_jsonl(self) -> bool:
        return self.uri.rstrip("/").endswith(".jsonl")


def _location(value: str | Path) -> _Location:
    text = str(value)
    scheme = urlparse(text).scheme
    if len(scheme) > 1 and scheme != "file":  # one letter: a Windows drive, not a scheme
        return _Location(text, text, None)
    local = Path(unquote(urlparse(text).path)) if scheme == "file" else Path(text)
    local = local.expanduser().absolute()
    return _Location(local.as_uri(), text, local)


def _check_paths(model_ref: str, source: _Location, target: _Location) -> None:
    """What the driver can check before starting Spark: the input and the model are there, the
    output is not."""
    if source.local is not None and not source.local.exists():
        raise PipelineError(f"{source.shown}: --data: no such file or folder")
    if source.local is not None and source.local.is_dir() and not any(source.local.iterdir()):
        raise PipelineError(f"{source.shown}: --data: an empty folder; expected Parquet files of messages")
    reference = str(model_ref)
    if "://" not in reference and not reference.startswith(_URI_MODEL_PREFIXES) and not Path(reference).exists():
        raise PipelineError(f"{reference}: no such model directory or MLflow model URI")
    if target.local is not None and (target.local.exists() or target.local.is_symlink()):
        raise PipelineError(f"{target.shown}: --out {_EXISTS}")


# ------------------------------------------------------------------------- session


def _session(spark, master: str | None):
    """The session to use, and whether this call created it (and so must stop it)."""
    if spark is not None:
        return spark, False
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    running = SparkContext._active_spark_context is not None
    if not running:
        _use_this_python_on_local_workers(master)
    builder = SparkSession.builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate(), not running


def _use_this_python_on_local_workers(master: str | None) -> None:
    """Local workers run ``PYSPARK_PYTHON`` (default: ``python3`` on PATH, without this project's
    packages): from a virtual environment, point it at this interpreter. A cluster's workers are
    left to ``spark.pyspark.python`` (its nodes do not have this path)."""
    if "PYSPARK_PYTHON" in os.environ or sys.prefix == sys.base_prefix:
        return
    if master is None:
        from pyspark import SparkConf, SparkContext

        # Start (or join spark-submit's) JVM: it knows the configured master before any context exists.
        SparkContext._ensure_initialized()
        master = SparkConf().get("spark.master", "local[*]")
    if master.startswith("local"):
        os.environ["PYSPARK_PYTHON"] = sys.executable


# --------------------------------------------------------------------------- input


def _read_corpus(session, source: _Location, label_ids: list[str], flag_ids: list[str]):
    """A JSONL corpus as message rows, parsed and validated on the workers (line numbers kept for
    the errors); every problem is collected before anything is scored. Returns the rows, their
    count and the cached frame to release."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    parse = partial(_parse_partition, tuple(label_ids), tuple(flag_ids))
    with _spark_errors(source.shown):
        lines = (
            session.read.text(source.uri, lineSep="\n")  # split on \n only, as Python reads a file: same line numbers
            .select(F.col("value").cast("binary"))  # the raw bytes: bad UTF-8 is reported, not replaced by U+FFFD
            .rdd.zipWithIndex()  # (row, line index): counts each partition's lines first, on this RDD's own partitions
        )
        parsed = session.createDataFrame(lines.mapPartitions(parse), _PARSED_SCHEMA, verifySchema=False)
        # Counted, checked, then scored: parse once.
        parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
        counts = parsed.agg(
            F.count_if(F.col("problem").isNull()).alias("messages"),
            F.count_if(F.col("problem").isNotNull()).alias("problems"),
        ).first()
        if counts["problems"]:
            bad = parsed.where(F.col("problem").isNotNull()).withColumn("seq", F.monotonically_increasing_id())
            first = bad.orderBy("line", "seq").limit(MAX_REPORTED).collect()  # seq: a line's own order
            parsed.unpersist()
            problems = [Problem(source.shown, row["line"], row["field"], row["problem"]) for row in first]
            raise _data_error(problems, counts["problems"])
    if not counts["messages"]:
        parsed.unpersist()
        raise DataError.single(
            source.shown,
            1,
            "(file)",
            "expected at least one conversation (a JSON object per line), found an empty file",
        )
    messages = parsed.where(F.col("problem").isNull()).drop("field", "problem")
    return messages, counts["messages"], parsed


def _data_error(problems: list[Problem], total: int) -> DataError:
    """A DataError of the first problems that says how many more there are (only these were fetched)."""
    error = DataError(problems)
    if total > len(problems):
        error.args = (f"{error.render()}\n... and {total - len(problems)} more problem(s)",)
    return error


def _parse_partition(label_ids: tuple[str, ...], flag_ids: tuple[str, ...], lines: Iterable[tuple]) -> Iterator[tuple]:
    """Worker side: (row of a line's bytes, line index) pairs of a JSONL file to message rows and problem rows."""
    for row, index in lines:
        # Spark drops the line's \n, which Python's reader keeps: put it back, for the same JSON errors
        # ("Invalid control character" rather than "Unterminated string" for a line cut inside a string).
        yield from _parse_line(index + 1, bytes(row[0]) + b"\n", label_ids, flag_ids)


def _parse_line(lineno: int, raw: bytes, label_ids: tuple[str, ...], flag_ids: tuple[str, ...]) -> list[tuple]:
    """One line of a corpus, checked as ``corpus.CorpusReader`` checks it (same order, same
    messages): its message rows, or its problems. Duplicate conversation ids span lines: they are
    found where a conversation's rows meet, in ``_refuse_repeated_ids``. Repeated explicit message
    ids are not looked for: they change no score."""
    from pipeline.data import corpus

    def problem(field: str, message: str) -> list[tuple]:
        return [(lineno, None, None, None, None, None, field, message)]

    conversation, problems = corpus.parse_line(raw)
    if conversation is None:
        return [row for field, message in problems for row in problem(field, message)]
    found = []
    for i, flag in enumerate(conversation.flags or []):
        if flag not in flag_ids:
            found += problem(f"flags[{i}]", f"unknown flag '{flag}'; expected one of {list(flag_ids)}")
    for index, message in enumerate(conversation.messages):
        for i, label in enumerate(message.labels or []):
            if label not in label_ids:
                found += problem(
                    f"messages[{index}].labels[{i}]", f"unknown label '{label}'; expected one of {list(label_ids)}"
                )
    if found:
        return found
    return [
        (lineno, row["conversation_id"], row["message_index"], row["author"], row["text"], row["language"], None, None)
        for row in corpus._rows([conversation])
    ]


def _read_table(session, source: _Location):
    """A Parquet message table, its columns checked on the driver and its values in one pass.
    ``_row`` keeps the table's row order: ``predict_table`` numbers messages without
    ``message_index`` (and orders ties) by it. Returns the rows, their count and None (nothing cached)."""
    from pyspark.sql import functions as F

    with _spark_errors(source.shown):
        table = session.read.parquet(source.uri)
    types = {field.name: field.dataType for field in table.schema.fields}
    _check_columns(source.shown, types)
    cid, text, language = F.col("conversation_id"), F.col("text"), F.col("language")
    checks = [
        F.count(F.lit(1)).alias("rows"),
        F.count_if(cid.isNull()).alias("no_id"),
        F.first(F.when(cid.isNull(), F.col("_metadata.file_path")), ignorenulls=True).alias("no_id_file"),
        F.count_if(text.isNull()).alias("no_text"),
        F.first(F.when(text.isNull(), cid.cast("string")), ignorenulls=True).alias("no_text_example"),
    ]
    if "message_index" in types:
        index = F.col("message_index")
        checks += [
            F.count_if(index.isNull()).alias("no_index"),
            F.first(F.when(index.isNull(), cid.cast("string")), ignorenulls=True).alias("no_index_example"),
        ]
    if "language" in types:
        bad = language.isNotNull() & ~language.cast("string").rlike("^[a-z]{2}$")
        checks += [
            F.count_if(bad).alias("bad_language"),
            F.first(F.when(bad, language.cast("string")), ignorenulls=True).alias("bad_language_example"),
        ]
    with _spark_errors(source.shown):
        found = table.agg(*checks).first().asDict()
    _check_values(source.shown, found)
    columns = [cid.cast("string").alias("conversation_id"), text]
    if "message_index" in types:
        columns.append(F.col("message_index").cast("long").alias("message_index"))
    columns += [F.col(name).cast("string").alias(name) for name in ("author", "language") if name in types]
    return table.select(*columns, F.monotonically_increasing_id().alias("_row")), found["rows"], None


def _check_columns(shown: str, types: dict[str, Any]) -> None:
    """The table's columns against the serving contract: the required ones there, each with a usable type."""
    from pyspark.sql import types as T

    text_like = (T.StringType, T.NullType)
    expected = {
        "conversation_id": ((T.StringType, T.IntegralType), "a string (or integer) column"),
        "text": (text_like, "a string column"),
        "message_index": ((T.IntegralType,), "an integer column"),
        "author": ((T.StringType, T.NullType, T.IntegralType), "a string column"),
        "language": (text_like, "a string column of ISO 639-1 codes"),
    }
    problems = []
    for name in ("conversation_id", "text"):
        if name not in types:
            problems.append(
                Problem(
                    shown,
                    None,
                    name,
                    f"required column is missing; expected a message table with conversation_id and text "
                    f"(found columns: {', '.join(types) or 'none'})",
                )
            )
    for name, (allowed, what) in expected.items():
        if name in types and not isinstance(types[name], allowed):
            problems.append(Problem(shown, None, name, f"expected {what}, found {types[name].simpleString()}"))
    if problems:
        raise DataError(problems)


def _check_values(shown: str, found: dict[str, Any]) -> None:
    """The one-pass counts of ``_read_table``: no empty table, no missing id, text or index, no bad language."""
    if not found["rows"]:
        raise PipelineError(f"{shown}: --data: no messages (the table has no rows); expected one row per message")
    problems = []
    if found["no_id"]:
        problems.append(
            Problem(
                shown,
                None,
                "conversation_id",
                f"{found['no_id']} row(s) without a value (first in {found['no_id_file']}); expected one on every row",
            )
        )
    if found["no_text"]:
        problems.append(
            Problem(
                shown,
                None,
                "text",
                f"{found['no_text']} row(s) without a value (e.g. in conversation '{found['no_text_example']}'); "
                "expected a string on every row (it may be empty)",
            )
        )
    if found.get("no_index"):
        problems.append(
            Problem(
                shown,
                None,
                "message_index",
                f"{found['no_index']} row(s) without a value (e.g. in conversation '{found['no_index_example']}'); "
                "expected an integer on every row, or no message_index column (then the row order counts)",
            )
        )
    if found.get("bad_language"):
        problems.append(
            Problem(
                shown,
                None,
                "language",
                f"{found['bad_language']} row(s) with '{found['bad_language_example']}'; "
                "expected a two-letter ISO 639-1 code such as 'en' or 'fr', or null",
            )
        )
    if problems:
        raise DataError(problems)


# ------------------------------------------------------------------------- scoring


def _score(messages, model_ref: str, label_ids: list[str], buckets: int, shown: str):
    """Message rows to scored rows. ``repartition(buckets, "conversation_id")`` puts each row in
    partition ``pmod(hash(conversation_id), buckets)``: a partition is a bucket of whole
    conversations, scored by one ``predict_table`` call (``_score_partition``). An explicit
    partition count also keeps adaptive execution from merging buckets into fewer tasks than
    cores (it would for small inputs: scoring costs CPU, not bytes)."""
    score = partial(_score_partition, str(model_ref), tuple(label_ids), shown)
    return messages.repartition(buckets, "conversation_id").mapInPandas(score, output_schema(label_ids))


def _score_partition(model_ref: str, label_ids: tuple[str, ...], shown: str, batches: Iterator[Any]) -> Iterator[Any]:
    """Worker side: one bucket's Arrow batches as one frame, scored. A ``PipelineError`` is passed
    to the driver with its message intact (``_WORKER_ERROR``)."""
    import pandas as pd

    frames = list(batches)
    if not frames:
        return
    try:
        scored = _predict(model_ref, label_ids, shown, pd.concat(frames, ignore_index=True))
    except PipelineError as exc:
        raise RuntimeError(_WORKER_ERROR + json.dumps(str(exc))) from None
    yield scored


def _predict(model_ref: str, label_ids: tuple[str, ...], shown: str, frame):
    from pipeline.tracking.serving import predict_table

    if "_row" in frame:
        frame = frame.sort_values("_row", kind="stable").drop(columns="_row")
    if "line" in frame:
        _refuse_repeated_ids(frame, shown)
        frame = frame.drop(columns="line")
    scored = predict_table(_worker_model(model_ref, label_ids), frame.reset_index(drop=True))
    return scored.astype({"message_index": "int64", "alert": "bool"})


def _refuse_repeated_ids(frame, shown: str) -> None:
    """A conversation id on two lines of a corpus: its messages would be scored as one conversation.
    All rows of an id are in one bucket, so the bucket sees every repeat."""
    lines = frame.groupby("conversation_id", sort=False)["line"].agg(["min", "max"])
    repeated = lines[lines["min"] != lines["max"]]
    if len(repeated):
        raise DataError(
            [
                Problem(
                    shown,
                    int(row["max"]),
                    "conversation_id",
                    f"duplicate conversation id '{cid}' (first on line {int(row['min'])}); expected unique ids",
                )
                for cid, row in repeated.iterrows()
            ]
        )


def _worker_model(model_ref: str, label_ids: tuple[str, ...]):
    """The model, loaded once per Python worker process (``_MODELS``) and refused if its labels are
    not the schema's."""
    key = (model_ref, label_ids)
    if key not in _MODELS:
        from pipeline.tracking import load_model

        _MODELS[key] = load_model(model_ref, label_ids=list(label_ids))
    return _MODELS[key]


# --------------------------------------------------------------------------- output


def _write(scored, target: _Location) -> None:
    """Run the job: straight to a URI elsewhere, through a renamed sibling folder on a local disk."""
    from pipeline.core.io import make_parents, remove_made_parents

    if target.local is None:
        with _spark_errors(target.shown):
            scored.write.mode("errorifexists").parquet(target.uri)
        return
    created = make_parents(target.local)
    staging = target.local.with_name(f".{target.local.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with _spark_errors(target.shown):
            scored.write.mode("errorifexists").parquet(staging.as_uri())
        if target.local.exists() or target.local.is_symlink():  # made while the job ran: not ours to replace
            raise PipelineError(f"{target.shown}: --out appeared while the job ran; it was left as it is")
        os.rename(staging, target.local)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        remove_made_parents(created)
        raise


# --------------------------------------------------------------------------- errors


@contextmanager
def _spark_errors(where: str) -> Iterator[None]:
    """Spark's and Py4J's exceptions as a ``PipelineError``: a worker's own ``PipelineError`` as it
    was raised, anything else as ``where: <the first meaningful line>``."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JError) as exc:
        if isinstance(exc, PySparkException) and exc.getCondition() == "PATH_ALREADY_EXISTS":  # a remote --out
            raise PipelineError(f"{where}: {_EXISTS}") from None
        text = str(exc)
        ours = text.find(_WORKER_ERROR)
        if ours >= 0:
            message, _ = json.JSONDecoder().raw_decode(text, ours + len(_WORKER_ERROR))
            raise PipelineError(message) from None
        raise PipelineError(f"{where}: {_first_meaningful_line(text)}") from None


_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+\.?$")
_JAVA_CLASS = re.compile(r"^(?:[a-z]\w*\.)+[A-Z][\w$]*(?:Exception|Error): ")  # org.apache.spark.SparkException:


def _first_meaningful_line(text: str) -> str:
    """The exception line of a Python worker's traceback, else the first line that is not Py4J's
    "An error occurred while calling ..." preamble; without Spark's SQLSTATE suffix."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts:
        after = lines[starts[-1] + 1 :]
        found = next((line for line in after if not line.startswith((" ", "\t"))), None)
        if found:
            return _SQLSTATE.sub("", found)
    for line in lines:
        if not line.startswith("An error occurred while calling"):
            return _SQLSTATE.sub("", _JAVA_CLASS.sub("", line.lstrip(": ").strip())) or "Spark failed"
    return "Spark failed"
