"""Scoring on Apache Spark (pipeline.engines.spark): real PySpark on local[2] with this machine's
Java gives what ``serving.predict_table`` gives in one process, from JSONL and from Parquet, in
process and through ``spark-submit``; bad input is a clear error and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.errors import DataError, PipelineError
from pipeline.data import corpus
from pipeline.engines import spark_job
from pipeline.engines.spark import default_buckets, score_with_spark
from tests.conftest import BIN, REPO, run_cli

pytestmark = [
    pytest.mark.slow,
    # PySpark 4.3 warns that pandas 3 is "not fully supported": these tests show what this engine uses works.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

KEY = ["conversation_id", "message_index"]
# Small and quiet: no UI, few shuffle partitions, a modest driver heap. The JVM lives for seconds:
# its quick JIT alone (C1) and the serial GC spend about a third less CPU than the defaults here.
SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "1g",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


@pytest.fixture(scope="module")
def spark(submitted):
    """One SparkSession on local[2] for the module; its Python workers run this venv's Python
    (PYSPARK_PYTHON), without which they miss pyarrow and the package. Started after ``submitted``,
    so that the two JVMs' work overlaps."""
    from pyspark.sql import SparkSession

    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    started = time.perf_counter()
    builder = SparkSession.builder.master("local[2]").appName("test_spark_score")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    print(f"\nSpark session (JVM start) in {time.perf_counter() - started:.1f} s")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, schema) -> Path:
    """A tfidf model trained in process on 40 synthetic conversations (small vocabulary: a second or two)."""
    from pipeline.data.synth.generator import SynthConfig, synthesize
    from pipeline.models import TfidfModel

    conversations = list(synthesize(SynthConfig(conversations=40), seed=5))
    model = TfidfModel(schema.label_ids, {"max_train_messages": 800, "max_features": 2000}, seed=0)
    return model.fit(conversations[:30], conversations[30:]).save(tmp_path_factory.mktemp("spark-model") / "tfidf")


@pytest.fixture(scope="module")
def conversations():
    """24 synthetic conversations (English and French) to score: a few hundred messages."""
    from pipeline.data.synth.generator import SynthConfig, synthesize

    return list(synthesize(SynthConfig(conversations=24), seed=9))


@pytest.fixture(scope="module")
def expected(model_dir, conversations) -> pd.DataFrame:
    """``predict_table`` on the whole message table, in this process: what Spark must reproduce."""
    from pipeline.tracking import load_model
    from pipeline.tracking.serving import predict_table

    return _sorted(predict_table(load_model(model_dir), corpus.to_message_frame(conversations)))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, conversations) -> dict[str, Path]:
    """The conversations as a JSONL corpus; as a Parquet table with rows shuffled (conversations
    interleaved, messages out of order); and as one interleaved in round-robin order without
    ``message_index`` (each conversation's rows in order: the row order numbers them)."""
    root = tmp_path_factory.mktemp("spark-inputs")
    frame = corpus.to_message_frame(conversations)
    corpus.write_conversations(root / "corpus.jsonl", conversations)
    frame.sample(frac=1.0, random_state=3).to_parquet(root / "shuffled.parquet", index=False)
    round_robin = frame.sort_values(["message_index", "conversation_id"], kind="stable")
    round_robin.drop(columns="message_index").to_parquet(root / "unnumbered.parquet", index=False)
    return {
        "jsonl": root / "corpus.jsonl",
        "shuffled": root / "shuffled.parquet",
        "unnumbered": root / "unnumbered.parquet",
    }


@pytest.fixture(scope="module")
def submitted(model_dir, inputs, tmp_path_factory):
    """``spark-submit --master local[2] pipeline/engines/spark_job.py`` on the shuffled table, started
    in the background before this module's own session: a second JVM start and cold workers cost
    about 20 s here, mostly waiting, which overlaps the in-process tests instead of following them.
    One bucket: one Python worker pays the imports (MLflow among them). Yields the process, its
    output folder, its log folder and its start time; killed at the end if no test waited for it."""
    logs = tmp_path_factory.mktemp("spark-submit")
    out = logs / "scored"
    conf = [arg for key, value in SPARK_CONF.items() for arg in ("--conf", f"{key}={value}")]
    command = [BIN / "spark-submit", "--master", "local[2]", *conf, "pipeline/engines/spark_job.py",
               "--model", model_dir, "--data", inputs["shuffled"], "--out", out, "--buckets", "1"]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    started = time.perf_counter()
    with (logs / "stdout").open("w") as stdout, (logs / "stderr").open("w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True, cwd=REPO, env=env)
    yield process, out, logs, started
    if process.poll() is None:  # its JVM's shutdown hook stops its Python driver and workers
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEY).reset_index(drop=True)


def _read_scores(out: Path) -> pd.DataFrame:
    return _sorted(pd.read_parquet(out))


def _assert_same_scores(out: Path, expected: pd.DataFrame) -> None:
    """Same columns in the same order, same dtypes, and every value equal. Exactly equal, floats
    too: tfidf computes each message's features and probabilities row by row and the risk per
    conversation, so scoring a bucket of conversations gives the same bits as scoring all of them."""
    got = _read_scores(out)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def _leftovers(folder: Path) -> list[str]:
    """Hidden staging folders (``.<out>.<id>.tmp``) left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_jsonl_corpus_scores_as_predict_table_does(spark, model_dir, inputs, expected, schema, tmp_path):
    """A JSONL corpus, parsed and validated on the workers, scored in buckets: the serving
    contract's columns (p_<label> in schema order, then risk and alert) with predict_table's values."""
    out = tmp_path / "scored"
    assert score_with_spark(str(model_dir), inputs["jsonl"], out, spark=spark) == len(expected)
    got = pd.read_parquet(out)
    assert list(got.columns) == [*KEY, *(f"p_{label}" for label in schema.label_ids), "risk", "alert"]
    assert len(got) == len(expected) and got["alert"].any()  # the corpus has conversations that raise an alert
    _assert_same_scores(out, expected)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("table", "buckets"),
    [("shuffled", 3), ("unnumbered", None)],
)
def test_parquet_table_scores_as_predict_table_does(spark, model_dir, inputs, expected, tmp_path, table, buckets):
    """A Parquet message table with conversations interleaved: shuffled rows with message_index,
    or rows in order without it (numbered by row order, as predict_table does); any bucket count."""
    out = tmp_path / "scored"
    assert score_with_spark(str(model_dir), inputs[table], out, spark=spark, buckets=buckets) == len(expected)
    _assert_same_scores(out, expected)
    assert _leftovers(tmp_path) == []


def test_the_command_with_engine_spark_writes_what_local_score_writes(spark, model_dir, inputs, expected, tmp_path):
    """`grooming-risk score --engine spark` (run in this process, it joins the module's session)
    and the local engine's `score --out x.parquet` (in batches of 100 messages): the same table,
    value for value."""
    local = tmp_path / "local.parquet"
    args = ["--model", str(model_dir), "--data", str(inputs["jsonl"])]
    result = run_cli("score", *args, "--out", str(local), "--batch-messages", "100")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "spark"
    result = run_cli("score", "--engine", "spark", *args, "--out", str(out), "--buckets", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out} ({len(expected)} messages)"
    _assert_same_scores(out, _read_scores(local))
    _assert_same_scores(local, expected)


def test_spark_submit_job_writes_the_same_scores(submitted, expected):
    """``spark-submit pipeline/engines/spark_job.py`` in a JVM of its own (the cluster's way in):
    its session, its workers on this venv's Python, the same scores, the line it prints."""
    process, out, logs, started = submitted
    returncode = process.wait(timeout=300)
    print(f"\nspark-submit (JVM start and job) done {time.perf_counter() - started:.1f} s after it started")
    stdout, stderr = (logs / "stdout").read_text(), (logs / "stderr").read_text()
    assert returncode == 0, stderr[-3000:]
    assert stdout.strip().splitlines()[-1] == f"wrote {out} ({len(expected)} messages)"
    _assert_same_scores(out, expected)


def test_a_table_without_text_is_refused_before_any_job(spark, model_dir, conversations, tmp_path, capsys):
    """A Parquet table without ``text``: the column named, the columns found listed, from the
    driver; the job's entry point says it in one line on stderr and exits 2; no output, no staging."""
    table = tmp_path / "no-text.parquet"
    corpus.to_message_frame(conversations).drop(columns="text").to_parquet(table, index=False)
    out = tmp_path / "scored"
    with pytest.raises(DataError) as caught:
        score_with_spark(str(model_dir), table, out, spark=spark)
    assert str(caught.value).startswith(f"{table}: text: required column is missing")
    assert "found columns: conversation_id, message_index" in str(caught.value)
    assert spark_job.main(["--model", str(model_dir), "--data", str(table), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {caught.value}\n"
    assert not out.exists() and _leftovers(tmp_path) == []


def test_a_broken_corpus_names_its_lines(spark, model_dir, conversations, tmp_path):
    """Malformed JSON on line 3, an unknown label on line 5, a byte that is not UTF-8 on line 6 (read
    as bytes, not replaced by U+FFFD), found on the workers: the same FILE:LINE: field: expectation
    lines as the project's reader gives for the file; nothing written."""
    lines = [corpus.dumps(c).encode() for c in conversations[:6]]
    lines[2] = lines[2][:40]  # cut mid-object
    bad = conversations[4].model_copy(deep=True)
    bad.messages[1].labels = ["not_a_label"]
    lines[4] = corpus.dumps(bad).encode()
    lines[5] = lines[5].replace(b'"messages"', b'"m\xe9ssages"')  # Latin-1, not UTF-8
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "scored"
    with pytest.raises(DataError) as caught:
        score_with_spark(str(model_dir), path, out, spark=spark)
    with pytest.raises(DataError) as local:
        corpus.read_conversations(path)
    assert [p.line for p in caught.value.problems] == [3, 5, 6]
    assert caught.value.problems[1].message.startswith("unknown label 'not_a_label'; expected one of [")
    assert caught.value.problems[2].field == "(encoding)"
    assert str(caught.value) == str(local.value)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_a_repeated_conversation_id_fails_on_a_worker_as_a_clear_error(spark, model_dir, conversations, tmp_path):
    """The same conversation id on lines 1 and 4 is seen where its rows meet, in a Python worker:
    the error crosses the JVM and is raised again as the worker wrote it, with no Spark traceback;
    the staging folder the failed job wrote into is removed."""
    lines = [corpus.dumps(c) for c in conversations[:4]]
    lines[3] = corpus.dumps(conversations[3].model_copy(update={"conversation_id": conversations[0].conversation_id}))
    path = tmp_path / "repeated.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "scored"
    with pytest.raises(PipelineError) as caught:
        score_with_spark(str(model_dir), path, out, spark=spark)
    cid = conversations[0].conversation_id
    assert str(caught.value) == (
        f"{path}:4: conversation_id: duplicate conversation id '{cid}' (first on line 1); expected unique ids"
    )
    assert not out.exists() and _leftovers(tmp_path) == []


def test_an_existing_output_is_refused_and_left_untouched(spark, model_dir, inputs, tmp_path):
    """``out`` already there (someone's folder): refused before Spark reads anything; its content
    is as it was, and nothing was written beside it."""
    out = tmp_path / "scored"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    with pytest.raises(PipelineError, match="--out already exists; nothing was written"):
        score_with_spark(str(model_dir), inputs["jsonl"], out, spark=spark)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine\n"
    assert _leftovers(tmp_path) == []


def test_default_buckets_keep_every_core_busy_and_buckets_bounded():
    """Two buckets a core for small inputs; above that, at most MESSAGES_PER_BUCKET (50k) messages a bucket."""
    assert default_buckets(300, 2) == 4
    assert default_buckets(1_000_000, 2) == 20
    assert default_buckets(1_000_001, 8) == 21
